"""Test helpers: the shared slides, a memcached process and an S3 server on loopback."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest

from wsi_blueprint.settings import Settings

TESTDATA = os.environ.get("WSI_TESTDATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "testdata")

# moto and botocore read credentials from the environment; none of these are real.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def testdata_path(name: str) -> str:
    """Path of a shared test slide; skips the test, saying why, when the file is absent."""
    path = os.path.abspath(os.path.join(TESTDATA, name))
    if not os.path.isfile(path):
        pytest.skip(f"test slide {name} not found in {os.path.abspath(TESTDATA)} "
                    "(set WSI_TESTDATA to the folder of shared test slides)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Memcached:
    """A memcached process on a free loopback port; can be killed and started again."""

    def __init__(self) -> None:
        self.binary = shutil.which("memcached") or "/usr/bin/memcached"
        if not os.path.exists(self.binary):
            raise RuntimeError("memcached is not installed: run the README's test command, "
                               "which installs it")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Memcached":
        self.process = subprocess.Popen(
            [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64",
             "-u", "nobody"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class S3Server:
    """moto in server mode, a separate process speaking the S3 protocol on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        import boto3
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = "slides-" + uuid.uuid4().hex[:12]
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def make_settings(**values) -> Settings:
    """Settings from keyword arguments named like the keys without prefix: store=..."""
    return Settings.from_mapping({"WSI_" + k.upper(): v for k, v in values.items()})


class RangeFileServer:
    """A plain HTTP server on loopback serving a folder, honouring Range (or, with
    honour_range=False, answering every GET with the whole file, as naive servers do).
    Counts the body bytes it actually sent."""

    def __init__(self, root: str, honour_range: bool = True):
        import http.server
        import threading

        server_self = self
        self.sent = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.end_headers()

            def do_GET(self):
                path = os.path.join(root, urllib.parse.unquote(self.path.lstrip("/")))
                if not os.path.isfile(path):
                    self.send_error(404)
                    return
                size = os.path.getsize(path)
                start, end = 0, size - 1
                header = self.headers.get("Range")
                if honour_range and header:
                    first, _, last = header.removeprefix("bytes=").partition("-")
                    start, end = int(first), min(int(last), size - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("ETag", f'"{int(os.path.getmtime(path) * 1e9)}"')
                self.end_headers()
                with open(path, "rb") as f:
                    f.seek(start)
                    remaining = end - start + 1
                    try:
                        while remaining:
                            chunk = f.read(min(remaining, 65536))
                            self.wfile.write(chunk)
                            server_self.sent += len(chunk)
                            remaining -= len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
