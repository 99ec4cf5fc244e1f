"""DZI tiles and IIIF images answered before Flask: the hot path of viewers going over a slide.

Most of what a busy server answers is a viewer's tile of a slide the worker has open (a DZI
tile for OpenSeadragon, an Image API request for Mirador and other IIIF viewers), either in its
tile cache or rendered from blocks it holds. For those, Flask's request context,
routing, hooks and response object cost several times the work of a cached answer and a tenth
of a render (measured in docs/design/serving.md). This WSGI layer in front of the standalone
app answers exactly those requests as the blueprint does - the same status, headers in the same
order, ETag, CORS, Server-Timing, prefetch bookkeeping, metrics and counters - and hands every
other request to Flask untouched: another method or route, a query string, a conditional
request, the request log on, a slide not open (or open too long: see SlideLibrary). With access
control on, a request whose token (in the path or a Bearer header) grants the slide is answered
here too; any other is Flask's to refuse.

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
from .protocols.iiif import image_request, profile_link
from .protocols.iiif_request import FORMATS, QUALITIES
from .protocols.images import CACHE_CONTROL, etag_of, image_bytes, observe, session_key_of
from .reader import color_mode, content_type, output_format
from .security.access import bearer_token, check_slide

# The blueprint's DZI tile route as werkzeug's converters match it (path, int, int, int), for
# image formats only: no other route of the blueprint matches such a path.
_DZI_TILE = re.compile(r"/dzi/([^/].*?)_files/([0-9]+)/([0-9]+)_([0-9]+)\.(jpeg|jpg|png|webp)")
# Its IIIF image routes (path, then four segments), for the Image API's own qualities and
# formats only: info.json and manifest.json are no such name.
_IIIF_IMAGE = re.compile(r"/iiif/([23])/([^/].*?)/([^/]+)/([^/]+)/([^/]+)/(%s)\.(%s)" % (
    "|".join(QUALITIES), "|".join(FORMATS)))


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
            try:
                answer = self._direct(environ, path)
            except Exception:  # Flask answers it again, with its JSON error and log line
                answer = None
            if answer is not None:
                headers, body = answer
                start_response("200 OK", headers)
                return [body]
        return self.flask_wsgi(environ, start_response)

    def _direct(self, environ: dict, path: str) -> tuple[list, bytes] | None:
        """(headers, body) of the tile or image `path` names, or None for Flask to answer.
        Every route also stands under `/t/<token>`."""
        token = None
        if path.startswith("/t/"):
            token, slash, rest = path[3:].partition("/")
            if not token or not slash:
                return None
            path = "/" + rest
        match = _DZI_TILE.fullmatch(path)
        if match:
            slide_id, level, col, row, fmt = match.groups()

            def dzi_request(wsi, reader):
                return tile_request(native_deep_zoom(reader), int(level), int(col), int(row),
                                    output_format(fmt), wsi.settings.jpeg_quality,
                                    reader.color_for(color_mode(wsi.settings.color)))
            return self._answer(environ, "dzi_tile", slide_id, token, dzi_request, ())
        match = _IIIF_IMAGE.fullmatch(path)
        if match:
            version, slide_id, *parameters = match.groups()

            def iiif_request(wsi, reader):
                return image_request(reader, *parameters, int(version), wsi.settings,
                                     color_mode(wsi.settings.color))
            return self._answer(environ, f"iiif{version}_image", slide_id, token, iiif_request,
                                (("Link", profile_link(int(version))),))
        return None

    def _answer(self, environ: dict, endpoint: str, slide_id: str, token: str | None,
                make_request, route_headers: tuple) -> tuple[list, bytes] | None:
        """(headers, body) of the image `make_request(wsi, reader)` asks for, with the headers
        its route adds (`route_headers`), or None for Flask to answer."""
        started = time.perf_counter()
        wsi = self.app.extensions[EXTENSION][self.name]
        if wsi.signer is not None and not _granted(wsi.signer, environ, token, slide_id):
            return None
        reader = wsi.readers.open_already(slide_id)
        if reader is None:
            return None
        try:
            req, tiling = make_request(wsi, reader)  # the mode is settings', as with no query
        except WSIError:  # no such tile, a request the API refuses: Flask's error
            return None
        key = reader.key(req)
        policy = ""
        prefetcher = wsi.prefetcher
        if prefetcher is not None:
            prefetcher.demand_started()  # prefetch waits while demand requests are in flight
        clock = timing.begin()
        try:
            if prefetcher is not None and req.view is not None:
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
        headers = [("Content-Type", content_type(req.format)),
                   ("Content-Length", str(len(body))), ("ETag", etag_of(key)),
                   ("Cache-Control", CACHE_CONTROL), *route_headers, *HARDENING_HEADERS,
                   *cors_headers(wsi.cors_options, environ)]
        source = "store" if "store" in record else "cache"
        record["total"] = time.perf_counter() - started
        headers.append(("Server-Timing", timing.server_timing(record)))
        count_answer(wsi, endpoint, 200, policy, source, record["total"])
        return headers, body


def _granted(signer, environ: dict, token: str | None, slide_id: str) -> bool:
    """Whether the request's token grants the slide, found and checked as the blueprint's
    first hook does (`security.access.check_request`; a query token never comes here): the
    path's token, else a Bearer header's."""
    token = token or bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
    if not token:
        return False
    try:
        check_slide(signer.verify(token), slide_id)
    except WSIError:
        return False
    return True
