"""`POST /slides/<id>/heading`: a viewer says where a move it has begun ends, so that prefetch
fetches that screen before the move asks for it.

A viewer that animates its moves (OpenSeadragon springs a zoom over about a second) knows
where a move ends as it begins, but asks for the new level's tiles only once the zoom reaches
that level, and nothing it asked for before tells where a zoom into a new place lands. A
heading sent as the move begins gives the store that head start. The body is the screen the
move ends on, its level-0 rectangle and its size in screen (CSS) pixels:

    {"x": 12000, "y": 8000, "width": 6400, "height": 3600,
     "screen_width": 1600, "screen_height": 900}

The answer is 204 whether anything is fetched or not (prefetch off, the session's policy off,
a screen off the slide): a hint, never a request for data, and so never an error but for a
malformed body or a slide the caller may not read.
"""

import json
import math

from flask import Blueprint, request

from ..errors import BadRequest, TooLarge
from ..prefetch.viewport import Viewport
from .context import state
from .images import session_key

MAX_BODY = 1024
MAX_SCREEN = 8192  # screen pixels across or down: more than an 8K display
FIELDS = ("x", "y", "width", "height", "screen_width", "screen_height")


def viewer_scale(width: float, height: float, screen_width: float, screen_height: float
                 ) -> float:
    """The scale (level-0 pixels per pixel) of the finest level a viewer asks for on a screen
    showing `width` x `height` level-0 pixels: OpenSeadragon draws a level while each of its
    pixels covers at least half a screen pixel, so the finest level's downsample is the power
    of two in [s / 2, s), s being level-0 pixels per screen pixel (1 when zoomed past it)."""
    s = max(width / screen_width, height / screen_height)
    return 2.0 ** max(0, math.ceil(math.log2(s / 2)))


def parse_heading(body: bytes) -> Viewport:
    """The screen a heading names, at the scale of the level the viewer will ask for."""
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise BadRequest("send JSON: {" + ", ".join(f'"{name}": number' for name in FIELDS)
                         + "}")
    values = {}
    for name in FIELDS:
        value = fields.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise BadRequest(f"{name} must be a finite number")
        values[name] = float(value)
    if values["width"] <= 0 or values["height"] <= 0:
        raise BadRequest("width and height must be positive")
    for name in ("screen_width", "screen_height"):
        if not 1 <= values[name] <= MAX_SCREEN:
            raise BadRequest(f"{name} must be from 1 to {MAX_SCREEN} screen pixels")
    scale = viewer_scale(values["width"], values["height"], values["screen_width"],
                         values["screen_height"])
    return Viewport(values["x"], values["y"], values["width"], values["height"], scale)


def slide_heading(slide_id: str):
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise TooLarge(f"a heading is at most {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise TooLarge(f"a heading is at most {MAX_BODY} bytes")
    view = parse_heading(body)
    reader = state().readers.open(slide_id)  # 404s, before the session hears of it
    prefetcher = state().prefetcher
    if prefetcher is not None:
        prefetcher.heading(session_key(slide_id), reader, view)
    return "", 204


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/slides/<path:slide_id>/heading", "slide_heading", slide_heading,
                    methods=["POST"])
