"""Deep Zoom (DZI) for OpenSeadragon: the XML descriptor and its tiles.

Coordinate planes, from the bottom: level-0 pixels of the slide (`l0_`); DZI level z (`z_`),
which is level 0 shrunk by 2^(max_level - z) and rounded up; and tiles (`t_`) of `tile_size`
with `overlap` pixels shared with each neighbour. The default tile size is the slide's native
one with no overlap, so a DZI level that coincides with a stored level is served by passing
stored tiles through; every other tile is cut from the nearest finer stored level and resampled.
"""

import dataclasses
import functools
import math

from flask import Blueprint, Response, request

from ..errors import BadRequest, NotFound
from ..reader import RAW, RegionRequest, SlideReader, View, output_format, tiles_meeting
from .color import requested_color
from .context import state
from .images import serve

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

    def scale(self, z_level: int) -> int:
        """Level-0 pixels per pixel of DZI level `z_level`."""
        return 2 ** (self.max_level - z_level)

    def level_size(self, z_level: int) -> tuple[int, int]:
        scale = self.scale(z_level)
        return -(-self.width // scale), -(-self.height // scale)

    def grid(self, z_level: int) -> tuple[int, int]:
        z_width, z_height = self.level_size(z_level)
        return -(-z_width // self.tile_size), -(-z_height // self.tile_size)

    def tile_bounds(self, z_level: int, t_col: int, t_row: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) of a tile in DZI-level pixels, overlap included."""
        if not 0 <= z_level <= self.max_level:
            raise NotFound(f"DZI level {z_level} does not exist (0-{self.max_level})")
        t_cols, t_rows = self.grid(z_level)
        if not (0 <= t_col < t_cols and 0 <= t_row < t_rows):
            raise NotFound(f"DZI tile {t_col}_{t_row} does not exist at level {z_level}")
        z_width, z_height = self.level_size(z_level)
        z_x = t_col * self.tile_size - (self.overlap if t_col else 0)
        z_y = t_row * self.tile_size - (self.overlap if t_row else 0)
        z_x_end = min((t_col + 1) * self.tile_size + self.overlap, z_width)
        z_y_end = min((t_row + 1) * self.tile_size + self.overlap, z_height)
        return z_x, z_y, z_x_end - z_x, z_y_end - z_y

    @functools.lru_cache(maxsize=4096)  # a tile asked for again, by any viewer
    def request(self, z_level: int, t_col: int, t_row: int, fmt: str, quality: int,
                color: str = RAW) -> RegionRequest:
        """The tile as a region request: its level-0 rectangle (clipped to the slide) at its
        size, in colour mode `color`; the viewer shows it over its whole level tile. Values,
        so one may be shared."""
        z_x, z_y, z_width, z_height = self.tile_bounds(z_level, t_col, t_row)
        scale = self.scale(z_level)
        l0_x, l0_y = z_x * scale, z_y * scale
        return RegionRequest(
            l0_x, l0_y, min(z_width * scale, self.width - l0_x),
            min(z_height * scale, self.height - l0_y), z_width, z_height, fmt, quality,
            color=color, shown=View(l0_x, l0_y, z_width * scale, z_height * scale, scale))

    def descriptor(self, fmt: str) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<Image xmlns="{NAMESPACE}" Format="{fmt}" Overlap="{self.overlap}" '
                f'TileSize="{self.tile_size}"><Size Width="{self.width}" '
                f'Height="{self.height}"/></Image>\n')


@dataclasses.dataclass(frozen=True)
class DziTiling:
    """How a DZI viewer names tiles (a `reader.Tiling`), in the format and quality it asks."""

    dz: DeepZoom
    fmt: str
    quality: int
    color: str = RAW

    def requests(self, l0_x: float, l0_y: float, l0_width: float, l0_height: float,
                 scale: float) -> list[RegionRequest]:
        dz = self.dz
        z_level = dz.max_level - round(math.log2(max(scale, 1e-9)))
        if not 0 <= z_level <= dz.max_level or dz.scale(z_level) != scale:
            return []
        t_cols, t_rows = dz.grid(z_level)
        return [dz.request(z_level, c, r, self.fmt, self.quality, self.color)
                for c, r in tiles_meeting(l0_x, l0_y, l0_width, l0_height,
                                          dz.tile_size * scale, t_cols, t_rows)]


def _bounded_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def native_deep_zoom(reader: SlideReader) -> DeepZoom:
    """The slide's DZI geometry by default: its stored tile size, no overlap."""
    info = reader.info()
    return DeepZoom(info.width, info.height, reader.tile_size, 0)


def deep_zoom(reader: SlideReader) -> DeepZoom:
    """The slide's DZI geometry; `?tile_size=&overlap=` choose others (254 and 1 as OpenSlide)."""
    if not request.query_string:  # the usual tile request: no query to parse
        return native_deep_zoom(reader)
    info = reader.info()
    return DeepZoom(info.width, info.height,
                    _bounded_int("tile_size", reader.tile_size, 1, MAX_TILE_SIZE),
                    _bounded_int("overlap", 0, 0, MAX_OVERLAP))


def descriptor(slide_id: str):
    reader = state().readers.open(slide_id)
    return Response(deep_zoom(reader).descriptor("jpeg"), mimetype="application/xml")


def tile_request(dz: DeepZoom, level: int, col: int, row: int, fmt: str, quality: int,
                 color: str) -> tuple[RegionRequest, DziTiling]:
    """What a tile URL asks for (`fmt` an output format's name, `color` the mode the reader
    resolved) and how the viewer names tiles; 404 for a tile not there. The route and
    direct_tiles.py both build it here."""
    return (dz.request(level, col, row, fmt, quality, color),
            DziTiling(dz, fmt, quality, color))


def tile(slide_id: str, level: int, col: int, row: int, fmt: str):
    wsi = state()
    fmt = output_format(fmt)
    reader = wsi.readers.open(slide_id)
    dz = deep_zoom(reader)
    color = reader.color_for(requested_color())
    req, tiling = tile_request(dz, level, col, row, fmt, wsi.settings.jpeg_quality,
                               color)  # 404 before any work
    return serve(reader, req, tiling)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/dzi/<path:slide_id>.dzi", "dzi_descriptor", descriptor)
    bp.add_url_rule("/dzi/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<fmt>",
                    "dzi_tile", tile)
