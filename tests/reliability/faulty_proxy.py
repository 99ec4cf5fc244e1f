"""An HTTP proxy on loopback that passes range reads to a real store and injects faults.

    proxy = FaultyProxy(upstream_url)
    proxy.inject("status", count=2, status=503)   # the next two requests get a 503
    proxy.inject("reset", count=1)                 # the next one: connection reset
    proxy.inject("stall", count=1, seconds=3)      # the next one: silence for 3 s
    proxy.inject("truncate", count=1)              # half the body, then the connection ends
    proxy.inject("whole", count=1)                 # 200 with the whole object, Range ignored

Faults apply in order to the next requests that reach the proxy; `proxy.requests` counts all.
"""

import collections
import http.server
import socket
import struct
import threading
import time

import requests


class FaultyProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/") + "/"
        self.requests = 0
        self._faults: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                proxy.requests += 1
                fault = proxy._next_fault()
                if fault is None:
                    return proxy._forward(self)
                kind, options = fault
                if kind == "status":
                    body = b"injected failure"
                    self.send_response(options["status"])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif kind == "reset":
                    # SO_LINGER 0: close() sends a TCP reset, as a dying load balancer does.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                elif kind == "stall":
                    time.sleep(options["seconds"])
                    self.close_connection = True
                elif kind == "truncate":
                    proxy._forward(self, truncate=True)
                elif kind == "whole":
                    proxy._forward(self, whole=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def inject(self, kind: str, count: int = 1, **options) -> None:
        with self._lock:
            for _ in range(count):
                self._faults.append((kind, options))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self):
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _forward(self, handler, truncate: bool = False, whole: bool = False) -> None:
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() in ("range", "if-match", "if-unmodified-since")}
        if whole:
            headers.pop("Range", None)
        upstream = self._session.get(self.upstream + handler.path.lstrip("/"), headers=headers,
                                     timeout=30)
        body = upstream.content
        handler.send_response(upstream.status_code)
        for name in ("Content-Range", "ETag", "Last-Modified", "Content-Type"):
            if name in upstream.headers:
                handler.send_header(name, upstream.headers[name])
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body[:len(body) // 2] if truncate else body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader saw the headers, refused the body and hung up: as it should
        if truncate:
            handler.close_connection = True

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
