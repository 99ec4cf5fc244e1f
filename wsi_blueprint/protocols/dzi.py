"""Deep Zoom (DZI) for OpenSeadragon: the XML descriptor and its tiles.

Coordinate planes, from the bottom: level-0 pixels of the slide; DZI level L, which is level 0
shrunk by 2^(max_level - L) and rounded up; and tiles of `tile_size` with `overlap` pixels shared
with each neighbour. The default tile size is the slide's native one with no overlap, so a DZI
level that coincides with a stored level is served by passing stored tiles through; every other
tile is cut from the nearest finer stored level and resampled.
"""

import dataclasses
import functools
import math
from typing import Callable

from flask import Blueprint, Response, request

from ..errors import BadRequest, NotFound
from ..formats.slide import Slide
from ..imaging.encode import encode, output_format
from ..imaging.passthrough import native_tile_jpeg
from ..imaging.region import read_region
from .context import state
from .images import image_key, image_response, note_view
from .native_tiles import default_tile_size, find_native_tile

NAMESPACE = "http://schemas.microsoft.com/deepzoom/2008"
MAX_TILE_SIZE = 2048
MAX_OVERLAP = 32


@dataclasses.dataclass(frozen=True)
class DeepZoom:
    width: int
    height: int
    tile_size: int
    overlap: int

    @property
    def max_level(self) -> int:
        return math.ceil(math.log2(max(self.width, self.height, 1)))

    def scale(self, level: int) -> int:
        """Level-0 pixels per pixel of DZI level `level`."""
        return 2 ** (self.max_level - level)

    def level_size(self, level: int) -> tuple[int, int]:
        scale = self.scale(level)
        return -(-self.width // scale), -(-self.height // scale)

    def grid(self, level: int) -> tuple[int, int]:
        width, height = self.level_size(level)
        return -(-width // self.tile_size), -(-height // self.tile_size)

    def tile_bounds(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) of a tile in DZI-level pixels, overlap included."""
        if not 0 <= level <= self.max_level:
            raise NotFound(f"DZI level {level} does not exist (0-{self.max_level})")
        cols, rows = self.grid(level)
        if not (0 <= col < cols and 0 <= row < rows):
            raise NotFound(f"DZI tile {col}_{row} does not exist at level {level}")
        width, height = self.level_size(level)
        x = col * self.tile_size - (self.overlap if col else 0)
        y = row * self.tile_size - (self.overlap if row else 0)
        x_end = min((col + 1) * self.tile_size + self.overlap, width)
        y_end = min((row + 1) * self.tile_size + self.overlap, height)
        return x, y, x_end - x, y_end - y

    def descriptor(self, fmt: str) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<Image xmlns="{NAMESPACE}" Format="{fmt}" Overlap="{self.overlap}" '
                f'TileSize="{self.tile_size}"><Size Width="{self.width}" '
                f'Height="{self.height}"/></Image>\n')


def _bounded_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def deep_zoom(slide: Slide) -> DeepZoom:
    """The slide's DZI geometry; `?tile_size=&overlap=` choose others (254 and 1 as OpenSlide)."""
    return DeepZoom(slide.index.width, slide.index.height,
                    _bounded_int("tile_size", default_tile_size(slide), 1, MAX_TILE_SIZE),
                    _bounded_int("overlap", 0, 0, MAX_OVERLAP))


def _level0_bounds(slide: Slide, dz: DeepZoom, level: int, col: int, row: int
                   ) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The tile's level-0 rectangle (clipped to the slide) and its output size."""
    x, y, width, height = dz.tile_bounds(level, col, row)
    scale = dz.scale(level)
    x0, y0 = x * scale, y * scale
    w0 = min(width * scale, slide.index.width - x0)
    h0 = min(height * scale, slide.index.height - y0)
    return (x0, y0, w0, h0), (width, height)


def _native(slide: Slide, dz: DeepZoom, level: int, col: int, row: int, fmt: str
            ) -> tuple[int, int, int] | None:
    """The stored tile this DZI tile passes through, if it is one."""
    if fmt != "jpeg":
        return None
    rect, size = _level0_bounds(slide, dz, level, col, row)
    return find_native_tile(slide, *rect, *size)


def render_tile(slide: Slide, dz: DeepZoom, level: int, col: int, row: int, fmt: str,
                quality: int) -> bytes:
    native = _native(slide, dz, level, col, row, fmt)
    if native is not None:
        stored_level, stored_col, stored_row = native
        return native_tile_jpeg(slide.read_tiles(stored_level, [(stored_col, stored_row)])[0],
                                quality)
    rect, size = _level0_bounds(slide, dz, level, col, row)
    return read_region(slide, *rect, *size, finish=lambda pixels: encode(pixels, fmt, quality))


def tile_key(slide: Slide, dz: DeepZoom, level: int, col: int, row: int, fmt: str,
             quality: int) -> str:
    return image_key(slide, "dzi", dz.tile_size, dz.overlap, level, col, row, fmt, quality)


@dataclasses.dataclass(frozen=True)
class DziTiling:
    """How a viewer names DZI tiles: lets the prefetcher render, ahead of the viewer, the
    tiles it will ask for that are resampled (stored tiles pass through: they only need their
    bytes in the block cache)."""

    dz: DeepZoom
    fmt: str
    quality: int

    def derived_tiles(self, slide: Slide, x: float, y: float, width: float, height: float,
                      scale: float) -> list[tuple[str, Callable[[], bytes]]]:
        """(cache key, render) of the resampled tiles of the DZI level at `scale` that meet
        the level-0 rectangle, centre first as a viewer asks; none if no level is at that
        scale."""
        dz = self.dz
        level = dz.max_level - round(math.log2(max(scale, 1e-9)))
        if not 0 <= level <= dz.max_level or dz.scale(level) != scale:
            return []
        span = dz.tile_size * scale
        cols, rows = dz.grid(level)
        c0, c1 = max(0, int(x // span)), min(cols - 1, int((x + width - 1e-6) // span))
        r0, r1 = max(0, int(y // span)), min(rows - 1, int((y + height - 1e-6) // span))
        cx, cy = (x + width / 2) / span - 0.5, (y + height / 2) / span - 0.5
        grid = sorted(((c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)),
                      key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2)
        return [(tile_key(slide, dz, level, c, r, self.fmt, self.quality),
                 functools.partial(render_tile, slide, dz, level, c, r, self.fmt, self.quality))
                for c, r in grid if _native(slide, dz, level, c, r, self.fmt) is None]


def descriptor(slide_id: str):
    slide = state().library.open(slide_id)
    return Response(deep_zoom(slide).descriptor("jpeg"), mimetype="application/xml")


def tile(slide_id: str, level: int, col: int, row: int, fmt: str):
    fmt = output_format(fmt)
    library, quality = state().library, state().settings.jpeg_quality

    def work(slide: Slide) -> Response:
        dz = deep_zoom(slide)
        x, y, width, height = dz.tile_bounds(level, col, row)  # 404 before any work
        scale = dz.scale(level)
        note_view(slide, slide_id, x * scale, y * scale, width * scale, height * scale, scale,
                  DziTiling(dz, fmt, quality))
        key = tile_key(slide, dz, level, col, row, fmt, quality)
        return image_response(
            key, fmt, lambda: render_tile(slide, dz, level, col, row, fmt, quality))

    return library.run(slide_id, work)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/dzi/<path:slide_id>.dzi", "dzi_descriptor", descriptor)
    bp.add_url_rule("/dzi/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<fmt>",
                    "dzi_tile", tile)
