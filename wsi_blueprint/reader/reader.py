"""A slide reader: the one interface protocols and the prefetcher read a slide through.

`region(req)` answers any `RegionRequest`: a request that is exactly one stored tile passes that
tile through undecoded, every other is cut from the best level and rendered. `image(req)` serves
any request value (`reader.request`) and `key(req)` names its bytes.

Coordinate planes are named as openslide's deepzoom.py names them wherever two meet: `l0_`
level-0 pixels, `l_` a stored level, `z_` a protocol's output plane, `t_` tiles.
"""

import dataclasses
import functools
from typing import Callable

from ..caches.blocks import block_runs
from ..errors import CorruptSlide, NotFound, ObjectChanged
from ..formats.icc import IccProfile
from ..formats.index import SlideIndex
from ..formats.slide import Slide
from ..imaging import color, cpu_pool
from ..imaging.associated import read_associated
from ..imaging.encode import encode
from ..imaging.orient import orient_and_encode
from ..imaging.passthrough import native_tile_jpeg
from ..imaging.region import best_level, read_region, region_tiles, thumbnail, thumbnail_size
from .request import (COLOR, AssociatedRequest, ImageRequest, RegionRequest, StoredTileRequest,
                      ThumbnailRequest, View)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class FetchPlan:
    """What warming some byte ranges would fetch: the uncached blocks asked for (index ->
    bytes), the other blocks their read units bring, and the store requests it takes."""

    namespace: str
    asked: dict[int, int]
    ahead_bytes: int
    runs: list[tuple[int, int]]

    @property
    def size(self) -> int:
        return sum(self.asked.values()) + self.ahead_bytes


class SlideReader:
    def __init__(self, slide: Slide, slide_id: str, pool: cpu_pool.CpuPool | None = None):
        self.slide = slide
        self.slide_id = slide_id
        self.pool = pool  # None: the process's default pool

    def info(self) -> SlideIndex:
        """Size, levels, resolution, vendor properties, associated image names."""
        return self.slide.index

    def shown_properties(self, phi_allowed: bool) -> dict[str, str]:
        """The slide's properties; those the format marks as identifying the patient (a
        barcode) only where `phi_allowed` (the label and macro images are served too)."""
        index = self.slide.index
        if not index.phi_properties or phi_allowed:
            return index.properties
        hidden = set(index.phi_properties)
        return {key: value for key, value in index.properties.items() if key not in hidden}

    @property
    def namespace(self) -> str:
        """This exact version of the slide (store, id, ETag)."""
        return self.slide.blocks.namespace

    def profile(self, associated: str | None = None) -> IccProfile | None:
        """Where the slide's ICC profile (or the associated image's own) lies and what it is."""
        index = self.slide.index
        return index.associated_icc.get(associated) if associated else index.icc_profile

    def profile_bytes(self) -> bytes:
        """The slide's ICC profile; 404 if it has none."""
        profile = self.profile()
        if profile is None:
            raise NotFound(f"slide {self.slide_id!r} has no ICC profile")
        return self.slide.read_profile(profile)

    def color_for(self, mode: str, associated: str | None = None) -> str:
        """The colour mode a request asking for `mode` (`color.MODES`) is served in: `raw`
        where there is no usable profile or converting changes nothing, `auto` decided by the
        profile's size. A profile LittleCMS cannot read is ignored by `auto` and a 422 for
        `srgb`."""
        profile = self.profile(associated)
        size, space = (profile.length, profile.color_space) if profile else (None, None)
        is_srgb = False
        if color.needs_pixels_check(mode, size, space):
            try:
                managed = self._managed(associated)
                if not managed.checked:
                    with cpu_pool.using(self.pool):
                        cpu_pool.run_cpu(managed.is_srgb)
                is_srgb = managed.is_srgb()
            except CorruptSlide:
                if mode == color.SRGB:
                    raise
                return color.RAW
            except ObjectChanged:
                pass  # the image's own reads meet the change, and the route runs again
        return color.resolve(mode, size, space, is_srgb)

    def _managed(self, associated: str | None = None) -> color.Profile:
        """The profile with its transform and embedding, read once per worker (outside the
        CPU pool: reading may wait on the store)."""
        profile = self.profile(associated)
        key = f"{self.namespace}|icc|{profile.member}|{profile.offset}|{profile.length}"
        return color.PROFILES.get(key, lambda: self.slide.read_profile(profile))

    def _finish(self, finish, fmt: str, mode: str, associated: str | None = None):
        """`finish` (pixels -> image bytes) in colour mode `mode`."""
        if mode == color.SRGB:
            return self._managed(associated).converting(finish)
        if mode == color.EMBED:
            return self._managed(associated).embedding_after(finish, fmt)
        return finish

    def key(self, req: ImageRequest) -> str:
        """The cache key of the request's bytes; hashed, its ETag."""
        return f"{self.namespace}|{req.key}"

    @property
    def tile_size(self) -> int:
        """The stored tile size where tiles are square and of a sensible size, else 256: the
        tile size protocols advertise, so a viewer's tiles pass stored ones through."""
        level0 = self.slide.levels[0]
        if level0.tile_width == level0.tile_height and 64 <= level0.tile_width <= 2048:
            return level0.tile_width
        return 256

    # -- images ----------------------------------------------------------------------------

    def image(self, req: ImageRequest) -> bytes:
        with cpu_pool.using(self.pool):
            if isinstance(req, RegionRequest):
                return self._region(req)
            if isinstance(req, StoredTileRequest):
                return self._stored_tile(req.l_level, req.t_col, req.t_row, req.quality,
                                         req.color)
            if isinstance(req, ThumbnailRequest):
                return thumbnail(self.slide, req.max_size, finish=self._finish(
                    functools.partial(encode, fmt=req.format, quality=req.quality),
                    req.format, req.color))
            return self._associated(req)

    def region(self, req: RegionRequest) -> bytes:
        with cpu_pool.using(self.pool):
            return self._region(req)

    def stored_tile(self, l_level: int, t_col: int, t_row: int, quality: int) -> bytes:
        return self.image(self.stored_tile_request(l_level, t_col, t_row, quality))

    def thumbnail(self, max_size: int, fmt: str, quality: int) -> bytes:
        return self.image(ThumbnailRequest(max_size, fmt, quality))

    def associated(self, name: str, fmt: str, quality: int) -> bytes:
        return self.image(self.associated_request(name, fmt, quality))

    def stored_tile_request(self, l_level: int, t_col: int, t_row: int, quality: int,
                            mode: str = color.RAW) -> StoredTileRequest:
        """The request for a stored tile, placed in level-0 pixels, in colour mode `mode`;
        404 if there is none."""
        t_cols, t_rows = self.slide.tile_grid(l_level)
        if not (0 <= t_col < t_cols and 0 <= t_row < t_rows):
            raise NotFound(f"no tile {t_col},{t_row} in level {l_level} "
                           f"({t_cols}x{t_rows} tiles)")
        level = self.slide.levels[l_level]
        scale = level.downsample
        l0_span_x, l0_span_y = level.tile_width * scale, level.tile_height * scale
        view = View(round(t_col * l0_span_x), round(t_row * l0_span_y), round(l0_span_x),
                    round(l0_span_y), scale)
        return StoredTileRequest(l_level, t_col, t_row, quality, view,
                                 color=self.color_for(mode))

    def associated_request(self, name: str, fmt: str, quality: int, mode: str = color.RAW
                           ) -> AssociatedRequest:
        """The request for an associated image, in colour mode `mode` with its own profile."""
        if name not in self.slide.associated_names:
            raise NotFound(f"slide {self.slide_id!r} has no {name!r} image")
        return AssociatedRequest(name, fmt, quality, self.color_for(mode, name))

    def stored_tile_of(self, req: RegionRequest) -> tuple[int, int, int] | None:
        """(level, column, row) of the stored tile that is exactly this request, or None: the
        output scale is a whole number `s`, a stored grid level is the slide shrunk by exactly
        `s` (its size rounded up) and the rectangle is one stored tile of it, clipped at the
        slide's edge."""
        if not req.is_plain:
            return None
        l0_width, l0_height = self.slide.index.width, self.slide.index.height
        for l_level in range(len(self.slide.levels)):
            model = self.slide.level_model(l_level)
            scale = model.integer_scale(l0_width, l0_height)
            if scale is None or not model.whole_tiles:
                continue
            l0_span_x, l0_span_y = model.t_width * scale, model.t_height * scale
            if req.l0_x % l0_span_x or req.l0_y % l0_span_y:
                continue
            if (req.l0_width, req.l0_height) != (min(l0_span_x, l0_width - req.l0_x),
                                                 min(l0_span_y, l0_height - req.l0_y)):
                continue
            if (req.out_width, req.out_height) != (_ceil_div(req.l0_width, scale),
                                                   _ceil_div(req.l0_height, scale)):
                continue
            t_col, t_row = req.l0_x // l0_span_x, req.l0_y // l0_span_y
            if not model.stored(t_col, t_row):
                return None  # a gap of a sparse level: rendered in the fill colour
            return l_level, t_col, t_row
        return None

    def _region(self, req: RegionRequest) -> bytes:
        stored = self.stored_tile_of(req)
        if stored is not None:
            return self._stored_tile(*stored, req.quality, req.color)
        mode = req.color
        if mode == color.EMBED and req.mode != COLOR:
            mode = color.SRGB  # grey pixels cannot carry an RGB profile: converted first
        finish = functools.partial(orient_and_encode, rotation=req.rotation, mirror=req.mirror,
                                   mode=req.mode, fmt=req.format, quality=req.quality)
        return read_region(self.slide, req.l0_x, req.l0_y, req.l0_width, req.l0_height,
                           req.out_width, req.out_height,
                           finish=self._finish(finish, req.format, mode))

    def _stored_tile(self, l_level: int, t_col: int, t_row: int, quality: int,
                     mode: str = color.RAW) -> bytes:
        tile = self.slide.read_tiles(l_level, [(t_col, t_row)])[0]
        if mode == color.SRGB:
            return native_tile_jpeg(tile, quality, convert=self._managed().to_srgb)
        data = native_tile_jpeg(tile, quality)
        return self._managed().embedding().into_jpeg(data) if mode == color.EMBED else data

    def _associated(self, req: AssociatedRequest) -> bytes:
        pixels = read_associated(self.slide, req.name)
        finish = self._finish(functools.partial(encode, fmt=req.format, quality=req.quality),
                              req.format, req.color, req.name)
        return cpu_pool.run_cpu(finish, pixels)

    # -- what the prefetcher warms ---------------------------------------------------------

    def thumbnail_view(self, max_size: int) -> View:
        """The whole slide at the scale of its thumbnail of `max_size`."""
        index = self.slide.index
        z_width, _ = thumbnail_size(index.width, index.height, max_size)
        return View(0, 0, index.width, index.height, index.width / z_width)

    def stored_tiles_for(self, view: View) -> tuple[int, list[tuple[int, int]]] | None:
        """(level, tiles) a render of the view at its scale reads, at any size (what prefetch
        fetches); None if it misses the slide."""
        index = self.slide.index
        l0_x0, l0_y0 = max(0, int(view.l0_x)), max(0, int(view.l0_y))
        l0_x1 = min(index.width, int(view.l0_x + view.l0_width))
        l0_y1 = min(index.height, int(view.l0_y + view.l0_height))
        if l0_x1 <= l0_x0 or l0_y1 <= l0_y0:
            return None
        z_width = max(1, round((l0_x1 - l0_x0) / view.scale))
        z_height = max(1, round((l0_y1 - l0_y0) / view.scale))
        return region_tiles(self.slide, l0_x0, l0_y0, l0_x1 - l0_x0, l0_y1 - l0_y0, z_width,
                            z_height)

    def stored_per_shown(self, scale: float) -> float:
        """Stored pixels along a side that a render at `scale` reads per pixel it shows: 1 at
        a stored level's scale, more between levels and past the coarsest (a view's cost to
        fetch, per pixel of screen)."""
        return scale / self.slide.level_model(best_level(self.slide, scale, scale)).scale[0]

    def levels_of_at_most(self, t_count: int) -> list[int]:
        """The stored levels of at most `t_count` tiles; the smallest level if none is."""
        levels = [i for i in range(len(self.slide.levels))
                  if self.slide.tile_grid(i)[0] * self.slide.tile_grid(i)[1] <= t_count]
        return levels or [len(self.slide.levels) - 1]

    def level_tiles(self, l_level: int) -> list[tuple[int, int]]:
        t_cols, t_rows = self.slide.tile_grid(l_level)
        return [(c, r) for r in range(t_rows) for c in range(t_cols)]

    def table_ranges(self) -> list[tuple[int, int]]:
        return self.slide.table_ranges()

    def tile_ranges(self, l_level: int, coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return self.slide.tile_ranges(l_level, coords)

    def fetch_plan(self, ranges: list[tuple[int, int]]) -> FetchPlan:
        """What fetching these byte ranges into the block cache would cost, fetching nothing."""
        blocks = self.slide.blocks
        missing, ahead = blocks.plan(blocks.indices(ranges))
        return FetchPlan(blocks.namespace, {i: blocks.length(i) for i in missing},
                         sum(map(blocks.length, ahead)), block_runs(sorted(missing + ahead)))

    def fetch(self, plan: FetchPlan,
              claimed: Callable[[dict[int, int]], None] | None = None
              ) -> tuple[dict[int, int], int]:
        """Fetches the plan's blocks into the block cache, but those another read is already
        fetching: {index: bytes} of the blocks it fetched, which `claimed` hears of before
        any lands, and the store requests it made (`BlockReader.fetch`)."""
        told = None if claimed is None else (
            lambda mine: claimed({i: plan.asked[i] for i in mine}))
        fetched = self.slide.blocks.fetch(list(plan.asked), told)
        return {i: plan.asked[i] for i in fetched.blocks}, fetched.requests
