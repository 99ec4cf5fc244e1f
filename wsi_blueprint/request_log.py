"""Opt-in request log in the trace format, so real viewing sessions can be replayed.

    from wsi_blueprint import request_log
    request_log.init_app(app)            # path from app.config["WSI_REQUEST_LOG"]

Each GET of a DZI descriptor, DZI tile, IIIF image or info.json, or native tile appends one
JSONL line to the file:

    {"t": 1732222222.123, "session": "9f2c41d0a1b2", "url": "dzi/a.svs_files/14/3_7.jpeg",
     "status": 200, "bytes": 15532, "ms": 4.1}

`url` is relative to the app root with any access token taken out (the `/t/<token>` path
prefix and the `token` query parameter), so a log holds no secret and replays against a server
with access control off. `session` is the `X-WSI-Session` request header if the viewer sends
one, else a salted hash of the client address and user agent: a pseudonym, not an address.
Lines are written with one append each (O_APPEND), so the workers of one server can share a
file. ``python -m wsi_blueprint.bench.replay --server URL log.jsonl`` replays it; requests more
than 0.3 s apart start a new step.
"""

import hashlib
import json
import os
import re
import secrets
import time
import urllib.parse

from flask import Flask, g, request

_LOGGED = re.compile(r"^(?:dzi/.+(?:\.dzi|_files/\d+/\d+_\d+\.\w+)|iiif/.+|tiles/.+\.jpg)$")
_TOKEN_PATH = re.compile(r"^t/[^/]+/")
_SALT = secrets.token_hex(8)  # per process: pseudonyms are not comparable across restarts


def _relative_url() -> str | None:
    path = request.path[len(request.script_root):] if request.script_root else request.path
    path = _TOKEN_PATH.sub("", path.lstrip("/"))
    if not _LOGGED.match(path):
        return None
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return urllib.parse.quote(path, safe="/") + (
        "?" + urllib.parse.urlencode(query) if query else "")


def _session() -> str:
    given = request.headers.get("X-WSI-Session", "")
    if given and len(given) <= 64 and given.isprintable():
        return given
    seed = f"{_SALT}|{request.remote_addr}|{request.user_agent.string}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def init_app(app: Flask, path: str | None = None) -> bool:
    """Logs to `path` (or app.config WSI_REQUEST_LOG); returns whether logging is on."""
    path = path or app.config.get("WSI_REQUEST_LOG")
    if not path:
        return False
    path = os.path.abspath(path)

    @app.before_request
    def _start() -> None:
        g.wsi_log_started = time.perf_counter()

    @app.after_request
    def _log(response):
        if request.method != "GET":
            return response
        url = _relative_url()
        if url is None:
            return response
        started = g.get("wsi_log_started")
        line = json.dumps({
            "t": round(time.time(), 3), "session": _session(), "url": url,
            "status": response.status_code, "bytes": response.calculate_content_length() or 0,
            "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        }, separators=(",", ":")) + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass  # a log that cannot be written never fails a request
        return response

    return True
