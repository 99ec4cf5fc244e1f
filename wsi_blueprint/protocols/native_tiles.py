"""Recognising a request that is exactly one stored tile, so it can pass through undecoded.

DZI and IIIF both ask for "this level-0 rectangle at that output size". When the output scale is
a whole number `s`, a stored level is the slide shrunk by exactly `s` (its size rounded up), and
the rectangle is one tile of that level's grid (clipped at the slide's edge), the answer is that
stored tile.
"""

from ..formats.slide import Slide


def default_tile_size(slide: Slide) -> int:
    """The stored tile size where tiles are square and of a sensible size, else 256."""
    level0 = slide.levels[0]
    if level0.tile_width == level0.tile_height and 64 <= level0.tile_width <= 2048:
        return level0.tile_width
    return 256


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def find_native_tile(slide: Slide, x: int, y: int, w: int, h: int, out_w: int, out_h: int
                     ) -> tuple[int, int, int] | None:
    """(level, col, row) of the stored tile that is this request, or None."""
    width, height = slide.index.width, slide.index.height
    for index, level in enumerate(slide.levels):
        scale = round(level.downsample)
        if scale < 1 or (level.width, level.height) != (_ceil_div(width, scale),
                                                          _ceil_div(height, scale)):
            continue
        span_x, span_y = level.tile_width * scale, level.tile_height * scale
        if x % span_x or y % span_y:
            continue
        if (w, h) != (min(span_x, width - x), min(span_y, height - y)):
            continue
        if (out_w, out_h) != (_ceil_div(w, scale), _ceil_div(h, scale)):
            continue
        return index, x // span_x, y // span_y
    return None
