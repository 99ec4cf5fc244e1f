"""`wsi-blueprint serve` as a new user runs it: on a folder, a file:// URL, an S3 bucket (moto
server) and an HTTPS server, with gevent workers; the URLs it prints, a taken port."""

import concurrent.futures
import datetime
import http.server
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests

from helpers import testdata_path
from wsi_blueprint.bench.live_server import REPO_ROOT
from wsi_blueprint.sample import SAMPLE_NAME

SLIDE = "CMU-1-Small-Region.svs"
START_TIMEOUT = 60.0


class Serve:
    """`wsi-blueprint serve ARGS --port 0` in its own session; the port is read from the
    URLs it prints. Output (stdout and stderr) kept in a file."""

    def __init__(self, *args: str, env: dict | None = None, workers: int = 1) -> None:
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("WSI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env.update(env or {}, PYTHONUNBUFFERED="1")
        self.args = [*args, "--port", "0", "--workers", str(workers)]
        self._log = tempfile.NamedTemporaryFile(prefix="wsi-serve-", suffix=".log")
        self.process = None
        self.base = None

    @property
    def output(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def start(self) -> "Serve":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wsi_blueprint.cli", "serve", *self.args], cwd=REPO_ROOT,
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output
            found = re.search(r"serving \S+ at (http://[\d.]+:\d+)/", self.output)
            if found:
                self.base = found.group(1)
                # The port is bound before the workers boot: until one does, the request
                # waits (a read timeout on a loaded machine), then is answered.
                try:
                    if requests.get(self.base + "/healthz", timeout=5).status_code == 200:
                        return self
                except (requests.ConnectionError, requests.Timeout):
                    pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer within {START_TIMEOUT} s:\n{self.output}")

    def viewer_url(self) -> str:
        return re.search(r"^  viewer: (\S+)$", self.output, re.M).group(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def __enter__(self) -> "Serve":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def assert_clean_start(output: str) -> None:
    """No gevent patching warning (ssl, urllib3, botocore, pymemcache imported before the
    workers patch) and no worker that failed to boot."""
    assert "MonkeyPatchWarning" not in output, output
    assert "Worker failed to boot" not in output and "Traceback" not in output, output


def metrics_text(base: str) -> str:
    text = requests.get(base + "/metrics", timeout=10).text
    assert "wsi_build_info{" in text, text[:500]
    return text


def test_serve_an_s3_bucket(s3_server, s3_bucket):
    """The workers read S3 (botocore, requests, ssl all loaded after gevent's patching); the
    viewer URL names the bucket's first slide, quoted; nothing is written into the bucket."""
    data = open(testdata_path(SLIDE), "rb").read()
    s3_server.put(s3_bucket, "cases/1/he 1.svs", data)
    env = {"WSI_S3_ENDPOINT_URL": s3_server.endpoint, "WSI_PREFETCH": "off"}
    with Serve(f"s3://{s3_bucket}/cases", env=env, workers=2) as serve:
        assert serve.viewer_url() == f"{serve.base}/view/1/he%201.svs"
        tile = requests.get(serve.base + "/dzi/1/he%201.svs_files/10/0_0.jpeg", timeout=30)
        assert tile.status_code == 200 and tile.content[:2] == b"\xff\xd8"
        assert requests.get(serve.viewer_url(), timeout=30).status_code == 200
        text = metrics_text(serve.base)
        assert re.search(r"^wsi_store_requests_total\S* [1-9]", text, re.M), text
    assert_clean_start(serve.output)
    assert "demo slide" not in serve.output
    listed = s3_server.client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["cases/1/he 1.svs"]


def test_serve_an_empty_folder_writes_the_demo_slide(tmp_path):
    with Serve(str(tmp_path / "new"), env={"WSI_PREFETCH": "off"}) as serve:
        assert serve.viewer_url() == f"{serve.base}/view/{SAMPLE_NAME}"
        assert requests.get(serve.viewer_url(), timeout=30).status_code == 200
        metrics_text(serve.base)
    assert_clean_start(serve.output)
    assert os.listdir(tmp_path / "new") == [SAMPLE_NAME]


def test_serve_a_file_url_of_slides_writes_nothing(tmp_path):
    shutil.copy(testdata_path(SLIDE), tmp_path / "b slide.svs")
    shutil.copy(testdata_path(SLIDE), tmp_path / "a slide.svs")
    with Serve(f"file://{tmp_path}", env={"WSI_PREFETCH": "off"}) as serve:
        assert serve.viewer_url() == f"{serve.base}/view/a%20slide.svs"
        assert requests.get(serve.viewer_url(), timeout=30).status_code == 200
    assert_clean_start(serve.output)
    assert sorted(os.listdir(tmp_path)) == ["a slide.svs", "b slide.svs"]


def test_the_metrics_folder_it_made_goes_when_it_stops(tmp_path):
    """The workers' Prometheus files live in a folder the master makes in the temp folder;
    a server stopped must not leave it behind (a test run starts hundreds)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    shutil.copy(testdata_path(SLIDE), tmp_path / SLIDE)
    with Serve(f"file://{tmp_path}", env={"WSI_PREFETCH": "off", "TMPDIR": str(temp)},
               workers=2) as serve:
        metrics_text(serve.base)
        made = [p for p in os.listdir(temp) if p.startswith("wsi-metrics-")]
        assert len(made) == 1 and os.listdir(temp / made[0]), os.listdir(temp)
    assert serve.process.returncode == 0, serve.output
    assert not os.path.exists(temp / made[0]), serve.output


def test_an_operators_metrics_folder_stays(tmp_path):
    shutil.copy(testdata_path(SLIDE), tmp_path / SLIDE)
    folder = tmp_path / "prometheus"
    env = {"WSI_PREFETCH": "off", "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    with Serve(f"file://{tmp_path}", env=env) as serve:
        metrics_text(serve.base)
    assert serve.process.returncode == 0, serve.output
    assert folder.is_dir() and os.listdir(folder)


def test_a_taken_port_is_one_line_and_exit_1(tmp_path):
    shutil.copy(testdata_path(SLIDE), tmp_path / SLIDE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "wsi_blueprint.cli", "serve", str(tmp_path),
             "--port", str(port)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"wsi-blueprint serve: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "viewer:" not in done.stdout  # nothing is announced on a port that is not ours


# An HTTPS store: a local TLS endpoint with its own CA, slow on purpose.

DELAY = 0.4  # seconds the HTTPS server waits before answering each GET


def _certificates(folder) -> tuple[str, str, str]:
    """(CA bundle, server certificate, server key) for 127.0.0.1, in `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, *, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        else:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wsi test CA")])
    ca_cert = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server_cert = certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name,
        server_key.public_key(), ca_key, ca=False,
        san=x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
    paths = [os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key")]
    pem = serialization.Encoding.PEM
    for path, body in zip(paths, (
            ca_cert.public_bytes(pem), server_cert.public_bytes(pem),
            server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))):
        with open(path, "wb") as f:
            f.write(body)
    return paths[0], paths[1], paths[2]


class SlowTLSRangeServer:
    """HTTPS on loopback serving a folder with Range, each GET answered after DELAY; counts
    the GETs in flight at once (their peak)."""

    def __init__(self, root: str, certfile: str, keyfile: str) -> None:
        owner = self
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                with owner._lock:
                    owner.in_flight += 1
                    owner.peak = max(owner.peak, owner.in_flight)
                try:
                    time.sleep(DELAY)
                    self._answer()
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _answer(self):
                path = os.path.join(root, urllib.parse.unquote(self.path.lstrip("/")))
                if not os.path.isfile(path):
                    self.send_error(404)
                    return
                size = os.path.getsize(path)
                first, _, last = self.headers.get("Range", "bytes=0-").removeprefix(
                    "bytes=").partition("-")
                start, end = int(first), min(int(last or size - 1), size - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("ETag", f'"{os.path.basename(path)}"')
                self.end_headers()
                with open(path, "rb") as f:
                    f.seek(start)
                    self.wfile.write(f.read(end - start + 1))

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_https_store_is_read_without_blocking_the_event_loop(tmp_path):
    """One gevent worker opens two slides at once over TLS. Each open is a few reads, each
    read waits DELAY at the server: if TLS reads blocked the worker's event loop, the two
    opens would take two opens' time; they take about one, with the server seeing both
    slides' reads in flight together."""
    ca, certfile, keyfile = _certificates(tmp_path)
    slides = tmp_path / "slides"
    slides.mkdir()
    for name in ("a.svs", "b.svs", "c.svs"):
        shutil.copy(testdata_path(SLIDE), slides / name)
    server = SlowTLSRangeServer(str(slides), certfile, keyfile)
    env = {"REQUESTS_CA_BUNDLE": ca, "WSI_PREFETCH": "off"}
    try:
        with Serve(server.url, env=env) as serve:
            assert "viewer: " in serve.output and "cannot list" in serve.output

            def metadata(name: str) -> float:
                began = time.perf_counter()
                response = requests.get(f"{serve.base}/slides/{name}", timeout=60)
                assert response.status_code == 200, response.text
                return time.perf_counter() - began

            one = metadata("a.svs")
            assert one >= 2 * DELAY  # an open is several reads: a round trip worth comparing
            server.peak = 0
            began = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(metadata, ("b.svs", "c.svs")))
            both = time.perf_counter() - began
        assert_clean_start(serve.output)
    finally:
        server.stop()
    assert server.peak >= 2
    assert both < 1.6 * one, (one, both)


MASTER = r"""
import contextlib, io, sys
from wsi_blueprint import cli, serving
with contextlib.redirect_stdout(io.StringIO()):
    try:
        cli.main(["serve", "--help"])
    except SystemExit:
        pass
serving.settings_or_exit({})
serving.gunicorn_options({})
print(" ".join(m for m in ("ssl", "urllib3", "requests", "botocore", "pymemcache",
                           "prometheus_client") if m in sys.modules))
"""


def test_the_master_imports_none_of_the_clients_gevent_patches():
    """What the gunicorn master runs before it forks: the command line, the settings check,
    gunicorn's options. The end-to-end tests above see the consequence; this names the
    module that slipped in."""
    done = subprocess.run([sys.executable, "-c", MASTER], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
