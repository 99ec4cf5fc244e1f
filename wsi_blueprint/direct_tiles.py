"""DZI tiles answered before Flask: the hot path of viewers going over a slide.

Most of what a busy server answers is a viewer's DZI tile of a slide the worker has open,
either in its tile cache or rendered from blocks it holds. For those, Flask's request context,
routing, hooks and response object cost several times the work of a cached answer and a tenth
of a render (measured in docs/design/serving.md). This WSGI layer in front of the standalone
app answers exactly those requests as the blueprint does - the same status, headers in the same
order, ETag, CORS, Server-Timing, prefetch bookkeeping, metrics and counters - and hands every
other request to Flask untouched: another method or route, a query string, a conditional
request, access control on, the request log on, a slide not open (or due for revalidation).

A tile it cannot make is Flask's to answer too: for a replaced object (Flask reopens the slide
and runs the route again) Flask starts afresh; any other error is handed over in the environ
(`ERROR_KEY`) and raised by the blueprint's first hook, so the client gets the blueprint's
JSON error and log lines without the work being done twice. tests/test_direct_tiles.py compares
the answers with Flask's, header for header.
"""

import re
import time

from flask import Flask

from . import timing
from .blueprint import ERROR_KEY, HARDENING_HEADERS, count_answer
from .errors import ObjectChanged, WSIError
from .protocols.context import EXTENSION
from .protocols.cors import cors_headers
from .protocols.dzi import native_deep_zoom, tile_request
from .protocols.images import CACHE_CONTROL, etag_of, image_bytes, observe, session_key_of
from .reader import color_mode, content_type, output_format

# The blueprint's DZI tile route as werkzeug's converters match it (path, int, int, int), for
# image formats only: no other route of the blueprint matches such a path.
_TILE = re.compile(r"/dzi/([^/].*?)_files/([0-9]+)/([0-9]+)_([0-9]+)\.(jpeg|jpg|png|webp)")


class DirectTiles:
    """`app.wsgi_app = DirectTiles(app, app.wsgi_app)`, with the blueprint `name` at the root."""

    def __init__(self, app: Flask, flask_wsgi, name: str = "wsi"):
        self.app = app
        self.flask_wsgi = flask_wsgi
        self.name = name
        self.enabled = not app.config.get("WSI_REQUEST_LOG")  # Flask writes its lines

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if (self.enabled and environ["REQUEST_METHOD"] == "GET"
                and not environ.get("QUERY_STRING") and "HTTP_IF_NONE_MATCH" not in environ
                and path.isascii()):
            match = _TILE.fullmatch(path)
            try:
                answer = self._answer(environ, *match.groups()) if match else None
            except Exception:  # Flask answers it again, with its JSON error and log line
                answer = None
            if answer is not None:
                headers, body = answer
                start_response("200 OK", headers)
                return [body]
        return self.flask_wsgi(environ, start_response)

    def _answer(self, environ: dict, slide_id: str, level: str, col: str, row: str,
                fmt: str) -> tuple[list, bytes] | None:
        """(headers, body) of the tile, or None for Flask to answer."""
        started = time.perf_counter()
        wsi = self.app.extensions[EXTENSION][self.name]
        if wsi.signer is not None:
            return None
        reader = wsi.readers.open_already(slide_id)
        if reader is None:
            return None
        fmt = output_format(fmt)
        color = reader.color_for(color_mode(wsi.settings.color))  # requested_color(), no query
        try:
            req, tiling = tile_request(native_deep_zoom(reader), int(level), int(col), int(row),
                                       fmt, wsi.settings.jpeg_quality, color)
        except WSIError:  # no such tile: Flask's 404
            return None
        key = reader.key(req)
        policy = ""
        prefetcher = wsi.prefetcher
        if prefetcher is not None:
            prefetcher.demand_started()  # prefetch waits while demand requests are in flight
        clock = timing.begin()
        try:
            if prefetcher is not None:
                policy = observe(prefetcher, session_key_of(environ, slide_id), reader, req.view,
                                 tiling)
            body = image_bytes(wsi.caches.tiles, prefetcher, reader, req, key)
        except ObjectChanged:
            return None
        except Exception as error:
            environ[ERROR_KEY] = error
            return None
        finally:
            record = timing.end(clock)
            if prefetcher is not None:
                prefetcher.demand_ended()
        headers = [("Content-Type", content_type(fmt)), ("Content-Length", str(len(body))),
                   ("ETag", etag_of(key)), ("Cache-Control", CACHE_CONTROL), *HARDENING_HEADERS,
                   *cors_headers(wsi.cors_options, environ)]
        if record:
            headers.append(("Server-Timing", timing.server_timing(record)))
        count_answer(wsi, "dzi_tile", 200, policy, "store" if "store" in record else "cache",
                     time.perf_counter() - started)
        return headers, body
