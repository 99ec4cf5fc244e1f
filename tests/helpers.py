"""Test helpers: the shared slides, a memcached process and an S3 server on loopback."""

import os
import time
import urllib.parse
from typing import Callable

import pytest

from wsi_blueprint.bench.services import Memcached, S3Server, free_port, wait_for_port  # noqa: F401
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


testdata_path.__test__ = False  # a helper, not a test, despite its name


def make_settings(**values) -> Settings:
    """Settings from keyword arguments named like the keys without prefix: store=..."""
    return Settings.from_mapping({"WSI_" + k.upper(): v for k, v in values.items()})


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds: for what lands in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class RangeFileServer:
    """A plain HTTP server on loopback serving a folder, honouring Range (or, with
    honour_range=False, answering every GET with the whole file, as naive servers do).
    Counts the body bytes it actually sent."""

    def __init__(self, root: str, honour_range: bool = True, port: int = 0):
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

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
