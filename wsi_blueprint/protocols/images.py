"""Image responses: `serve(reader, request)` for every protocol that returns pixels, with the
finished-image cache, ETags, Cache-Control and 304s.

A request value names every parameter that shapes its bytes and the reader adds the slide's
version (store, id, ETag), so the same key always means the same bytes: it is the tile cache
key and, hashed, the HTTP ETag. A matching If-None-Match is answered 304 before any pixel work.
A read that meets a replaced object reopens the slide and runs the route once more, here
only: the route then builds its request from the new version (whose geometry may differ).
"""

import hashlib
import time
from typing import Callable

from flask import Response, current_app, g, request

from ..errors import ObjectChanged
from ..prefetch.viewport import Request
from ..reader import ImageRequest, SlideReader, Tiling, View, content_type
from .context import state

MAX_AGE = 86400  # slides are immutable for a given ETag
# What werkzeug's cache_control would write, written at once (its parser runs per response).
CACHE_CONTROL = f"public, max-age={MAX_AGE}"


def session_key(slide_id: str) -> str:
    """The viewing session: an id the viewer sends, else the client and the slide."""
    req = request._get_current_object()
    return session_key_of(req.environ, slide_id,
                          req.args.get("session") if req.query_string else None)


def session_key_of(environ: dict, slide_id: str, asked: str | None = None) -> str:
    """`session_key` from a WSGI environ (read as WSGI hands the headers over: no lookup
    raising KeyError) and the `?session=` given."""
    given = environ.get("HTTP_X_WSI_SESSION") or asked
    if given:
        return given[:128]
    return f"{environ.get('REMOTE_ADDR')}|{environ.get('HTTP_USER_AGENT', '')[:64]}|{slide_id}"


def etag_of(key: str) -> str:
    """The ETag header of the image cached under `key`."""
    return f'"{hashlib.blake2b(key.encode(), digest_size=12).hexdigest()}"'


def observe(prefetcher, session: str, reader: SlideReader, view: View,
            tiling: Tiling | None) -> str:
    """Tells the prefetcher that `session` asked for `view` now; the name of the policy that
    answered (for the request's metrics)."""
    return prefetcher.observe(session, reader, Request(
        time.monotonic(), view.l0_x, view.l0_y, view.l0_width, view.l0_height, view.scale),
        tiling)


def serve(reader: SlideReader, req: ImageRequest, tiling: Tiling | None = None) -> Response:
    """The image `req` asks for. `tiling` says how the viewer names tiles (DZI's, IIIF's),
    so that the prefetcher can render ahead the ones it will ask for next."""
    try:
        return _respond(reader, req, tiling)
    except ObjectChanged:
        if g.get("wsi_reopened"):
            raise
        g.wsi_reopened = True
        state().library.reopen(reader.slide_id)
        route = current_app.view_functions[request.endpoint]
        return current_app.ensure_sync(route)(**request.view_args)


def _respond(reader: SlideReader, req: ImageRequest, tiling: Tiling | None) -> Response:
    prefetcher = state().prefetcher
    if prefetcher is not None and req.view is not None:
        g.wsi_policy = observe(prefetcher, session_key(reader.slide_id), reader, req.view, tiling)
    key = reader.key(req)
    etag = etag_of(key)
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains(etag[1:-1]):
        response = Response(status=304)
    else:
        data = image_bytes(state().caches.tiles, prefetcher, reader, req, key)
        response = Response(data, mimetype=content_type(req.format))
    return _cacheable(response, etag)


def image_bytes(tiles, prefetcher, reader: SlideReader, req: ImageRequest, key: str) -> bytes:
    """The image `req` (cached under `key`) from the tile cache, or made once; the prefetcher,
    if any, learns it was asked for (a tile it rendered ahead counts as used). Both tile paths
    (this module's `serve`, direct_tiles.py) answer through here."""
    if prefetcher is not None:
        prefetcher.tile_asked(key)
    return tiles.get_or_load(key, lambda: reader.image(req))


def cached_response(reader: SlideReader, name: str, load: Callable[[], bytes],
                    mimetype: str) -> Response:
    """Bytes of the slide that are not an image (its ICC profile), with an ETag of the
    slide's version and `name`, and the images' Cache-Control; 304 before `load`."""
    etag = etag_of(f"{reader.namespace}|{name}")
    if request.if_none_match.contains(etag[1:-1]):
        return _cacheable(Response(status=304), etag)
    return _cacheable(Response(load(), mimetype=mimetype), etag)


def _cacheable(response: Response, etag: str) -> Response:
    """The ETag (quoted) and the images' Cache-Control on `response`."""
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
