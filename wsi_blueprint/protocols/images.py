"""Image responses: the finished-tile cache, ETags, Cache-Control and 304s, shared by every
protocol that returns pixels.

An image is named by a key that holds the slide's version (store, id, ETag) and every parameter
that shapes it, so the same key always means the same bytes: it is the tile cache key and,
hashed, the HTTP ETag. A matching If-None-Match is answered 304 before any pixel work.
"""

import hashlib
import time
from typing import Callable

from flask import Response, g, request

from ..formats.slide import Slide
from ..imaging.encode import content_type
from ..prefetch.viewport import Request
from .context import state

MAX_AGE = 86400  # slides are immutable for a given ETag


def session_key(slide_id: str) -> str:
    """The viewing session: an id the viewer sends, else the client and the slide."""
    given = request.headers.get("X-WSI-Session") or request.args.get("session")
    if given:
        return given[:128]
    return f"{request.remote_addr}|{request.headers.get('User-Agent', '')[:64]}|{slide_id}"


def note_view(slide: Slide, slide_id: str, x: int, y: int, width: int, height: int,
              scale: float, tiling=None) -> None:
    """Tell the prefetcher (if on) that the viewer asked for this level-0 rectangle; `tiling`
    (for example `dzi.DziTiling`) says how the viewer names tiles, so that the prefetcher can
    render resampled ones ahead of it."""
    prefetcher = state().prefetcher
    if prefetcher is not None:
        g.wsi_policy = prefetcher.observe(session_key(slide_id), slide, slide_id,
                                          Request(time.monotonic(), x, y, width, height, scale),
                                          tiling)


def image_key(slide: Slide, *parts: object) -> str:
    return "|".join([slide.blocks.namespace, *map(str, parts)])


def image_response(key: str, fmt: str, produce: Callable[[], bytes]) -> Response:
    etag = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        prefetcher = state().prefetcher
        if prefetcher is not None:
            prefetcher.tile_asked(key)
        data = state().caches.tiles.get_or_load(key, produce)
        response = Response(data, mimetype=content_type(fmt))
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response
