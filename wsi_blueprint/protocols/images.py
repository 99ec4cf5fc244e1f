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
from ..reader import ImageRequest, SlideReader, Tiling, content_type
from .context import state

MAX_AGE = 86400  # slides are immutable for a given ETag


def session_key(slide_id: str) -> str:
    """The viewing session: an id the viewer sends, else the client and the slide."""
    given = request.headers.get("X-WSI-Session") or request.args.get("session")
    if given:
        return given[:128]
    return f"{request.remote_addr}|{request.headers.get('User-Agent', '')[:64]}|{slide_id}"


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
        view = req.view
        g.wsi_policy = prefetcher.observe(
            session_key(reader.slide_id), reader,
            Request(time.monotonic(), view.l0_x, view.l0_y, view.l0_width, view.l0_height,
                    view.scale), tiling)
    key = reader.key(req)
    etag = _etag(key)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        if prefetcher is not None:
            prefetcher.tile_asked(key)
        data = state().caches.tiles.get_or_load(key, lambda: reader.image(req))
        response = Response(data, mimetype=content_type(req.format))
    return _cacheable(response, etag)


def cached_response(reader: SlideReader, name: str, load: Callable[[], bytes],
                    mimetype: str) -> Response:
    """Bytes of the slide that are not an image (its ICC profile), with an ETag of the
    slide's version and `name`, and the images' Cache-Control; 304 before `load`."""
    etag = _etag(f"{reader.namespace}|{name}")
    if request.if_none_match.contains(etag):
        return _cacheable(Response(status=304), etag)
    return _cacheable(Response(load(), mimetype=mimetype), etag)


def _etag(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _cacheable(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response
