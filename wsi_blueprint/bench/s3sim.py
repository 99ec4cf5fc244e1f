"""A simulated S3 for benchmarks: the S3 protocol over local files, with S3's latency.

moto copies the whole object for every ranged GET, which costs more than S3 itself on a large
slide; this server answers a ranged GET by reading just that range from the local file, then
models what the network adds:

- first-byte latency: every answer waits `latency` seconds (plus optional uniform jitter)
  before its status line (default 40 ms, S3 from a nearby region);
- bandwidth: each response body is paced to `bandwidth` bytes/s per connection, and all
  bodies together to `total_bandwidth` (0 = no cap);
- counters: requests by kind and status, body bytes sent, at GET /_sim/stats (JSON),
  zeroed by POST /_sim/reset; POST /_sim/config changes the model while it runs.

S3 semantics, path-style (`/bucket/key`), buckets being the folders under the root:
GET (Range `a-b`, `a-`, `-n`; 206 with Content-Range, 416 past the end), HEAD, ETag and
Last-Modified, If-Match / If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304),
ListObjectsV2 (prefix, delimiter, max-keys, start-after, continuation-token,
encoding-type=url), HeadBucket, GetBucketLocation, S3 XML errors. Signatures are not checked:
any presigned query string or Authorization header is accepted and ignored.

    python -m wsi_blueprint.bench.s3sim --root DIR [--port 9000] [--latency-ms 40]

`SimulatedS3` starts it in a subprocess on a free loopback port and reads its counters.
"""

import argparse
import email.utils
import hashlib
import http.server
import json
import os
import random
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

CHUNK = 64 * 1024
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Model:
    """What the network adds; changed at run time through /_sim/config."""

    def __init__(self, latency: float = 0.040, jitter: float = 0.0, bandwidth: float = 0.0,
                 total_bandwidth: float = 0.0):
        self.latency = latency
        self.jitter = jitter
        self.bandwidth = bandwidth              # bytes/s per response, 0 = unlimited
        self.total_bandwidth = total_bandwidth  # bytes/s for all responses, 0 = unlimited
        self._lock = threading.Lock()
        self._total_next = 0.0                  # when the shared link is free again

    def as_dict(self) -> dict:
        return {"latency_ms": self.latency * 1000, "jitter_ms": self.jitter * 1000,
                "bandwidth_mbps": self.bandwidth / 1e6,
                "total_bandwidth_mbps": self.total_bandwidth / 1e6}

    def update(self, values: dict) -> None:
        if "latency_ms" in values:
            self.latency = float(values["latency_ms"]) / 1000
        if "jitter_ms" in values:
            self.jitter = float(values["jitter_ms"]) / 1000
        if "bandwidth_mbps" in values:
            self.bandwidth = float(values["bandwidth_mbps"]) * 1e6
        if "total_bandwidth_mbps" in values:
            self.total_bandwidth = float(values["total_bandwidth_mbps"]) * 1e6

    def first_byte_delay(self) -> float:
        return self.latency + (random.uniform(0, self.jitter) if self.jitter else 0.0)

    def pace(self, started: float, sent: int, chunk: int) -> None:
        """Sleep so that this body and all bodies together keep to their bandwidth."""
        wait = 0.0
        if self.bandwidth:
            wait = started + sent / self.bandwidth - time.monotonic()
        if self.total_bandwidth:
            with self._lock:
                now = time.monotonic()
                self._total_next = max(self._total_next, now) + chunk / self.total_bandwidth
                wait = max(wait, self._total_next - now)
        if wait > 0:
            time.sleep(wait)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.bytes = 0
            self.kinds: dict[str, int] = {}
            self.statuses: dict[str, int] = {}
            self.in_flight = 0
            self.max_in_flight = 0
            self.since = time.time()

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, kind: str, status: int, sent: int) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            if kind == "control":  # the benchmark asking for figures is not S3 traffic
                return
            self.requests += 1
            self.bytes += sent
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def as_dict(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "bytes": self.bytes, "kinds": dict(self.kinds),
                    "statuses": dict(self.statuses), "max_in_flight": self.max_in_flight,
                    "seconds": round(time.time() - self.since, 3)}


def etag_of(st: os.stat_result) -> str:
    """Opaque and stable while the file is unchanged, as an S3 ETag is (no MD5 of 1 GB)."""
    ident = f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}".encode()
    return '"' + hashlib.md5(ident).hexdigest() + '"'


def parse_range(header: str | None, size: int):
    """(start, end) inclusive; None for no usable Range (whole object); 'unsatisfiable'."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            if not last:
                return None
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or (last and end < start):
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def _iso(mtime: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(mtime))


def _etag_list(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


class S3Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wsi-bench-s3sim"
    sys_version = ""

    # set on the class made by make_server()
    root = "."
    model = Model()
    stats = Stats()

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, status: int, headers: dict, body: bytes = b"", kind: str = "other",
              stream=None, length: int = 0) -> None:
        """Wait the first-byte latency, then answer; `stream` is (file, offset) to pace."""
        time.sleep(self.model.first_byte_delay())
        self.send_response(status)
        self.send_header("x-amz-request-id", "%016X" % random.getrandbits(64))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if stream is None else length))
        self.end_headers()
        sent = 0
        try:
            if self.command == "HEAD":
                pass
            elif stream is None:
                if body:
                    self.wfile.write(body)
                    sent = len(body)
            else:
                f, offset = stream
                f.seek(offset)
                began = time.monotonic()
                while sent < length:
                    chunk = f.read(min(CHUNK, length - sent))
                    if not chunk:
                        break
                    self.model.pace(began, sent, len(chunk))
                    self.wfile.write(chunk)
                    sent += len(chunk)
        finally:
            self._result = (kind, status, sent)

    def _error(self, status: int, code: str, message: str, resource: str = "",
               extra: dict | None = None, kind: str = "error") -> None:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message><Resource>{escape(resource)}</Resource>"
                f"</Error>").encode()
        headers = {"Content-Type": "application/xml", **(extra or {})}
        self._send(status, headers, b"" if self.command == "HEAD" else body, kind)

    def _handle(self) -> None:
        self._result = ("other", 0, 0)
        self.stats.begin()
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.stats.end(*self._result)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = lambda self: self._handle()

    def _read_request_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- routing -----------------------------------------------------------------------------

    def _route(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path = urllib.parse.unquote(url.path)
        if path.startswith("/_sim/"):
            return self._control(path, self._read_request_body())
        self._read_request_body()
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket:
            return self._error(405, "MethodNotAllowed", "listing buckets is not simulated")
        bucket_dir = os.path.join(self.root, bucket)
        if bucket.startswith(".") or not os.path.isdir(bucket_dir):
            return self._error(404, "NoSuchBucket", "The specified bucket does not exist",
                               "/" + bucket)
        if not key:
            return self._bucket(bucket, bucket_dir, query)
        if self.command not in ("GET", "HEAD"):
            return self._error(405, "MethodNotAllowed", "only GET and HEAD are simulated")
        return self._object(bucket_dir, key, path)

    def _control(self, path: str, body: bytes) -> None:
        if path == "/_sim/stats":
            answer = self.stats.as_dict()
        elif path == "/_sim/reset" and self.command == "POST":
            self.stats.reset()
            answer = {"reset": True}
        elif path == "/_sim/config":
            if self.command == "POST" and body:
                self.model.update(json.loads(body))
            answer = self.model.as_dict()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._result = ("control", 200, 0)

    # -- buckets -----------------------------------------------------------------------------

    def _bucket(self, bucket: str, bucket_dir: str, query: dict) -> None:
        if self.command == "HEAD":
            return self._send(200, {"x-amz-bucket-region": "us-east-1"}, kind="head_bucket")
        if self.command != "GET":
            return self._error(405, "MethodNotAllowed", "only GET and HEAD are simulated")
        if "location" in query:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                    f'<LocationConstraint xmlns="{XMLNS}"/>').encode()
            return self._send(200, {"Content-Type": "application/xml"}, body, "location")
        return self._list(bucket, bucket_dir, query)

    def _list(self, bucket: str, bucket_dir: str, query: dict) -> None:
        def arg(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        prefix, delimiter = arg("prefix"), arg("delimiter")
        try:
            max_keys = max(0, min(int(arg("max-keys", "1000")), 1000))
        except ValueError:
            return self._error(400, "InvalidArgument", "max-keys must be an integer")
        start_after = arg("start-after")
        token = arg("continuation-token")
        after = max(start_after, token)
        url_encoded = arg("encoding-type") == "url"
        keys = []
        for folder, dirs, files in os.walk(bucket_dir, followlinks=True):
            dirs.sort()
            rel = os.path.relpath(folder, bucket_dir)
            for name in files:
                key = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
                if key.startswith(prefix) and key > after:
                    keys.append((key, os.path.join(folder, name)))
        keys.sort()
        contents, common, truncated, last = [], [], False, ""
        seen_prefixes = set()
        for key, full in keys:
            if len(contents) + len(common) >= max_keys:
                truncated = True
                break
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common_prefix = key[:cut + len(delimiter)]
                    if common_prefix not in seen_prefixes:
                        seen_prefixes.add(common_prefix)
                        common.append(common_prefix)
                    last = key
                    continue
            contents.append((key, os.stat(full)))
            last = key

        def enc(text: str) -> str:
            return escape(urllib.parse.quote(text, safe="/") if url_encoded else text)

        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{XMLNS}">',
                 f"<Name>{escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix>",
                 f"<KeyCount>{len(contents) + len(common)}</KeyCount>",
                 f"<MaxKeys>{max_keys}</MaxKeys>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if start_after:
            parts.append(f"<StartAfter>{enc(start_after)}</StartAfter>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            parts.append(f"<NextContinuationToken>{escape(last)}</NextContinuationToken>")
        if url_encoded:
            parts.append("<EncodingType>url</EncodingType>")
        for key, st in contents:
            parts.append(f"<Contents><Key>{enc(key)}</Key>"
                         f"<LastModified>{_iso(st.st_mtime)}</LastModified>"
                         f"<ETag>{escape(etag_of(st))}</ETag><Size>{st.st_size}</Size>"
                         f"<StorageClass>STANDARD</StorageClass></Contents>")
        for common_prefix in common:
            parts.append(f"<CommonPrefixes><Prefix>{enc(common_prefix)}</Prefix>"
                         f"</CommonPrefixes>")
        parts.append("</ListBucketResult>")
        self._send(200, {"Content-Type": "application/xml"}, "".join(parts).encode(), "list")

    # -- objects -----------------------------------------------------------------------------

    def _object(self, bucket_dir: str, key: str, resource: str) -> None:
        full = os.path.realpath(os.path.join(bucket_dir, key))
        inside = os.path.normpath(os.path.join(bucket_dir, key)).startswith(
            os.path.normpath(bucket_dir) + os.sep)
        if not inside or ".." in key.split("/") or not os.path.isfile(full):
            return self._error(404, "NoSuchKey", "The specified key does not exist.", resource,
                               kind="get_object" if self.command == "GET" else "head_object")
        kind = "get_object" if self.command == "GET" else "head_object"
        with open(full, "rb") as f:
            st = os.fstat(f.fileno())
            etag = etag_of(st)
            modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            base = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes",
                    "Content-Type": "application/octet-stream"}
            if_match = self.headers.get("If-Match")
            if if_match and "*" not in _etag_list(if_match) and etag not in _etag_list(if_match):
                return self._error(412, "PreconditionFailed",
                                   "At least one of the pre-conditions you specified did not "
                                   "hold", resource, kind=kind)
            unmodified = self.headers.get("If-Unmodified-Since")
            if unmodified and not if_match:
                when = email.utils.parsedate_to_datetime(unmodified).timestamp()
                if int(st.st_mtime) > when:
                    return self._error(412, "PreconditionFailed",
                                       "At least one of the pre-conditions you specified did "
                                       "not hold", resource, kind=kind)
            if_none = self.headers.get("If-None-Match")
            if if_none and (etag in _etag_list(if_none) or "*" in _etag_list(if_none)):
                return self._send(304, {"ETag": etag, "Last-Modified": modified}, kind=kind)
            since = self.headers.get("If-Modified-Since")
            if since and not if_none:
                when = email.utils.parsedate_to_datetime(since).timestamp()
                if int(st.st_mtime) <= when:
                    return self._send(304, {"ETag": etag, "Last-Modified": modified}, kind=kind)
            size = st.st_size
            if self.command == "HEAD":
                return self._head(base, size, kind)
            wanted = parse_range(self.headers.get("Range"), size)
            if wanted == "unsatisfiable":
                return self._error(416, "InvalidRange", "The requested range is not satisfiable",
                                   resource, {"Content-Range": f"bytes */{size}"}, kind=kind)
            if wanted is None:
                return self._send(200, base, kind=kind, stream=(f, 0), length=size)
            start, end = wanted
            headers = {**base, "Content-Range": f"bytes {start}-{end}/{size}"}
            return self._send(206, headers, kind=kind, stream=(f, start),
                              length=end - start + 1)

    def _head(self, headers: dict, size: int, kind: str) -> None:
        time.sleep(self.model.first_byte_delay())
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self._result = (kind, 200, 0)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def make_server(root: str, host: str = "127.0.0.1", port: int = 0,
                model: Model | None = None) -> _Server:
    handler = type("Handler", (S3Handler,), {"root": os.path.abspath(root),
                                             "model": model or Model(), "stats": Stats()})
    return _Server((host, port), handler)


class SimulatedS3:
    """The simulated S3 in a subprocess on a free loopback port.

        store = SimulatedS3(root, latency_ms=40).start()
        store.endpoint          # WSI_S3_ENDPOINT_URL; buckets are the folders of `root`
        store.server_env()      # what a server reading its `slides` bucket is started with
        store.stats(); store.reset(); store.configure(latency_ms=0)
        store.stop()
    """

    def __init__(self, root: str, *, latency_ms: float = 40.0, jitter_ms: float = 0.0,
                 bandwidth_mbps: float = 0.0, total_bandwidth_mbps: float = 0.0):
        from .services import free_port

        self.root = os.path.abspath(root)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.args = ["--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms),
                     "--bandwidth-mbps", str(bandwidth_mbps),
                     "--total-bandwidth-mbps", str(total_bandwidth_mbps)]
        self.process: subprocess.Popen | None = None

    def start(self) -> "SimulatedS3":
        from .services import wait_for_port

        self.process = subprocess.Popen(
            [sys.executable, "-m", "wsi_blueprint.bench.s3sim", "--root", self.root,
             "--port", str(self.port), "--parent-pid", str(os.getpid()), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, timeout=20)
        except RuntimeError:
            self.stop()
            raise
        return self

    def server_env(self, bucket: str = "slides") -> dict:
        """The settings a server needs to read `bucket` here: its store, this endpoint, and
        credentials, which the simulated store takes whatever they are (set in this process
        too, for the benchmark's own clients)."""
        return {"WSI_STORE": f"s3://{bucket}", "WSI_S3_ENDPOINT_URL": self.endpoint,
                "WSI_S3_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench"),
                "AWS_SECRET_ACCESS_KEY": os.environ.setdefault("AWS_SECRET_ACCESS_KEY",
                                                               "bench")}

    def _call(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data,
                                         method="POST" if data is not None else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("/_sim/stats")

    def reset(self) -> None:
        self._call("/_sim/reset", {})

    def configure(self, **values: float) -> dict:
        return self._call("/_sim/config", values)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stderr:
                process.stderr.close()

    def __enter__(self) -> "SimulatedS3":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder whose sub-folders are buckets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--bandwidth-mbps", type=float, default=0.0,
                        help="per-response cap in MB/s (0 = none)")
    parser.add_argument("--total-bandwidth-mbps", type=float, default=0.0,
                        help="cap for all responses together in MB/s (0 = none)")
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="exit when this process is gone (an owner that died)")
    args = parser.parse_args(argv)
    model = Model(args.latency_ms / 1000, args.jitter_ms / 1000, args.bandwidth_mbps * 1e6,
                  args.total_bandwidth_mbps * 1e6)
    server = make_server(args.root, args.host, args.port, model)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if args.parent_pid:
        def watch() -> None:
            while os.getppid() == args.parent_pid:
                time.sleep(1.0)
            server.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
