"""Any rectangle of a slide at any output size: DZI and IIIF tiles, regions, thumbnails.

The cost of a region is the pixels decoded and resampled, so the plan keeps both small:

1. Level: the coarsest whose pixels are still at least as fine as the output's (a level
   at most 1 % coarser counts: pyramids whose size ratios give downsamples like 4.001).
2. Tile reduction: of the factor left between that level and the output, the largest integer
   part that divides the tile size is done per tile while decoding (JPEG DCT scaling, else an
   area average), in parallel in the CPU pool. Tiles reduced on their own boundaries give the
   same pixels as a reduced canvas, so the canvas is never larger than about the output, even
   for a thumbnail read from a full-resolution level.
3. One `read_tiles` call for every tile needed, so formats can coalesce the store reads.
4. Canvas, crop, the remaining (less than 2x) resampling and the caller's `finish` (usually
   encoding) in one more pool job. A region of a few tiles (a DZI or IIIF tile) does all of
   it, decoding included, in a single job: each hand-off to the pool costs about as much as
   decoding a tile at half size, and under load every core is busy with other requests anyway.

Geometry uses each level's one scale per axis (`formats.levels`: the format's, else the size
ratio), so a region reaching the slide's right or bottom edge maps exactly onto the level's
last pixel, whatever the rounding of level sizes. The level model says which stored tiles meet
the canvas and where each lies: a grid's cells, a sparse grid's stored cells (the rest is the
fill colour), placed tiles painted in stored order, each over the ones before, or a
lattice's tiles each pasted in the parts the model gives.
"""

import collections
import dataclasses
import functools
import math
from typing import Callable, TypeVar

import numpy as np

from ..errors import BadRequest, TooLarge
from ..formats.tile import EncodedTile
from .cpu_pool import map_cpu, run_cpu
from .decode import decode, solid
from .resample import resize

T = TypeVar("T")

LEVEL_TOLERANCE = 0.01
ONE_JOB_TILES = 4               # regions of at most this many tiles are one pool job
MAX_TILES = 4096                # tiles decoded for one region
MAX_PIECES = 65536              # placed pieces of stored images painted for one region
MAX_CANVAS_PIXELS = 2 ** 25     # 32 Mpx, 96 MiB of RGB before resampling


@dataclasses.dataclass(frozen=True)
class Plan:
    level: int
    reduce: int                       # per-tile reduction factor
    coords: list[tuple[int, int]]     # (column, row) of every tile needed, in paint order
    origins: list[tuple[int, int]]    # each tile's top-left corner in reduced level pixels
    canvas: tuple[int, int, int, int]  # integer box of the reduced level the tiles fill
    box: tuple[float, float, float, float]  # the region within the canvas, fractions allowed
    size: tuple[int, int]             # output (width, height)
    parts: tuple = ()                 # per tile: None (drawn whole) or its parts, reduced


def best_level(slide, scale_x: float, scale_y: float) -> int:
    """The coarsest level no coarser than `scale` (level-0 pixels per output pixel)."""
    best, best_scale = 0, 0.0
    for i in range(len(slide.levels)):
        level_x, level_y = slide.level_model(i).scale
        if level_x <= scale_x * (1 + LEVEL_TOLERANCE) and \
                level_y <= scale_y * (1 + LEVEL_TOLERANCE) and level_x > best_scale:
            best, best_scale = i, level_x
    return best


def _tile_reduction(remaining: float, tile_width: int, tile_height: int) -> int:
    most = math.floor(remaining * (1 + LEVEL_TOLERANCE))
    return next(k for k in range(max(1, most), 0, -1)
                if tile_width % k == 0 and tile_height % k == 0)


def plan_region(slide, l0_x: int, l0_y: int, l0_w: int, l0_h: int, z_w: int, z_h: int
                ) -> Plan:
    """The plan for the level-0 rectangle at the output (`z_`) size. The canvas is the chosen
    level (`l_`) reduced by the per-tile factor `k`."""
    l_level = _level_for(slide, l0_w, l0_h, z_w, z_h)
    scale_x, scale_y = l0_w / z_w, l0_h / z_h
    model = slide.level_model(l_level)
    l_scale_x, l_scale_y = model.scale
    k = _tile_reduction(min(scale_x / l_scale_x, scale_y / l_scale_y), model.t_width,
                        model.t_height) if model.reducible else 1
    plan = _plan_at(model, l_level, k, l0_x, l0_y, l0_w, l0_h, z_w, z_h)
    if k > 1 and not model.whole_tiles and any(x % k or y % k for x, y in (
            model.origin(c, r) for c, r in plan.coords)):
        # Placed tiles reduced on their own would land between canvas pixels.
        plan = _plan_at(model, l_level, 1, l0_x, l0_y, l0_w, l0_h, z_w, z_h)
    return plan


def region_tiles(slide, l0_x: int, l0_y: int, l0_w: int, l0_h: int, z_w: int, z_h: int
                 ) -> tuple[int, list[tuple[int, int]]]:
    """(level, tiles) a render of the region at the output size reads, at any canvas size: the
    canvas limit of `plan_region` bounds a render's memory, and a prefetched frame (grown by
    its margin, drawn out by the zoom's step) names tiles to fetch, which no canvas holds. The
    tile count stays bounded as a render's: each tile's table entry is read to fetch it."""
    l_level = _level_for(slide, l0_w, l0_h, z_w, z_h)
    model = slide.level_model(l_level)
    l_scale_x, l_scale_y = model.scale
    coords = model.tiles_meeting(
        math.floor(l0_x / l_scale_x + 1e-9), math.floor(l0_y / l_scale_y + 1e-9),
        math.ceil((l0_x + l0_w) / l_scale_x - 1e-9), math.ceil((l0_y + l0_h) / l_scale_y - 1e-9))
    return l_level, _bounded(model, l_level, coords)


def _level_for(slide, l0_w: int, l0_h: int, z_w: int, z_h: int) -> int:
    """The level a render of a `l0_w` x `l0_h` region at the output size reads."""
    if min(l0_w, l0_h, z_w, z_h) <= 0:
        raise BadRequest(f"empty region or output size ({l0_w}x{l0_h} -> {z_w}x{z_h})")
    return best_level(slide, l0_w / z_w, l0_h / z_h)


def _bounded(model, l_level: int, coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`coords`, unless they are more stored images than one region may read."""
    limit = MAX_TILES if model.whole_tiles else MAX_PIECES
    if len(coords) > limit:
        raise TooLarge(f"the region needs {len(coords)} tiles of level {l_level} "
                       f"(at most {limit}); ask for a smaller region or output")
    return coords


def _plan_at(model, l_level: int, k: int, l0_x: int, l0_y: int, l0_w: int, l0_h: int,
             z_w: int, z_h: int) -> Plan:
    l_scale_x, l_scale_y = model.scale
    # Level-0 pixels per canvas pixel, and the region in canvas pixels.
    per_x, per_y = l_scale_x * k, l_scale_y * k
    box = (l0_x / per_x, l0_y / per_y, (l0_x + l0_w) / per_x, (l0_y + l0_h) / per_y)
    left, top = math.floor(box[0] + 1e-9), math.floor(box[1] + 1e-9)
    right, bottom = math.ceil(box[2] - 1e-9), math.ceil(box[3] - 1e-9)
    if (right - left) * (bottom - top) > MAX_CANVAS_PIXELS:
        raise TooLarge(f"the region needs {right - left}x{bottom - top} pixels of level "
                       f"{l_level}; ask for a smaller region or output")
    coords = _bounded(model, l_level,
                      model.tiles_meeting(left * k, top * k, right * k, bottom * k))  # level px
    origins = [(l_x // k, l_y // k) for l_x, l_y in (model.origin(c, r) for c, r in coords)]
    parts = tuple(_reduced(model.parts(c, r), k) for c, r in coords)
    return Plan(l_level, k, coords, origins, (left, top, right, bottom),
                (box[0] - left, box[1] - top, box[2] - left, box[3] - top), (z_w, z_h),
                parts if any(p is not None for p in parts) else ())


def _reduced(parts, k: int):
    """A tile's parts (formats.levels.Part) in pixels of the level reduced by `k`."""
    if parts is None:
        return None
    return tuple((sx // k, sy // k, -(-w // k), -(-h // k), x // k, y // k)
                 for sx, sy, w, h, x, y in parts)


def read_region(slide, l0_x: int, l0_y: int, l0_w: int, l0_h: int, z_w: int, z_h: int,
                background: tuple | None = None,
                finish: Callable[[np.ndarray], T] | None = None) -> np.ndarray | T:
    """Level-0 region (l0_x, l0_y, l0_w, l0_h) as (z_h, z_w, 3) uint8 RGB; outside the slide
    and in the level's gaps is `background` (default: the level's fill colour). With `finish`,
    what it returns for those pixels (computed in the pool)."""
    plan = plan_region(slide, l0_x, l0_y, l0_w, l0_h, z_w, z_h)
    background = background or slide.level_model(plan.level).fill
    tiles = slide.read_tiles(plan.level, plan.coords) if plan.coords else []
    decode_tile = functools.partial(decode, reduce=plan.reduce, background=background)
    payloads, cuts = _shared_payloads(tiles)
    if len(payloads) > MAX_TILES:  # pieces of fewer images pass (MRXS's coarse levels)
        raise TooLarge(f"the region needs {len(payloads)} stored images of level "
                       f"{plan.level} (at most {MAX_TILES}); ask for a smaller region or output")
    if len(payloads) <= ONE_JOB_TILES:
        return run_cpu(_render, plan, payloads, cuts, decode_tile, background, finish)
    decoded = map_cpu(decode_tile, payloads)
    return run_cpu(_assemble, plan, _cut(decoded, cuts, plan.reduce), background, finish)


def _shared_payloads(tiles: list[EncodedTile]) -> tuple[list[EncodedTile], list]:
    """What to decode, each payload once, and per tile (which decoded payload, the tile or
    None if it is all of it). Tiles that are pieces of one stored image (MRXS) share its
    payload: the image is decoded once and each piece cut out of it."""
    uses = collections.Counter(id(tile.data) for tile in tiles if tile.data)
    payloads: list[EncodedTile] = []
    seen: dict[int, int] = {}
    cuts = []
    for tile in tiles:
        if uses[id(tile.data)] < 2:
            cuts.append((len(payloads), None))
            payloads.append(tile)
            continue
        if id(tile.data) not in seen:
            seen[id(tile.data)] = len(payloads)
            payloads.append(dataclasses.replace(tile, source_x=0, source_y=0,
                                                valid_width=tile.width,
                                                valid_height=tile.height))
        cuts.append((seen[id(tile.data)], tile))
    return payloads, cuts


def _cut(decoded: list[np.ndarray], cuts: list, reduce: int) -> list[np.ndarray]:
    """Each tile's pixels: its decoded payload, or its piece of it."""
    pieces = []
    for index, tile in cuts:
        pixels = decoded[index]
        if tile is not None:
            top, left = tile.source_y // reduce, tile.source_x // reduce
            pixels = pixels[top:top + -(-tile.valid_height // reduce),
                            left:left + -(-tile.valid_width // reduce)]
        pieces.append(pixels)
    return pieces


def _render(plan: Plan, payloads: list, cuts: list, decode_tile: Callable, background: tuple,
            finish: Callable | None):
    """A small region from its encoded tiles: one pool job (Server-Timing `render`)."""
    decoded = [decode_tile(payload) for payload in payloads]
    return _assemble(plan, _cut(decoded, cuts, plan.reduce), background, finish)


def _assemble(plan: Plan, pieces: list[np.ndarray], background: tuple, finish: Callable | None):
    """Canvas, crop, resampling and `finish` (Server-Timing `assemble`)."""
    pixels = _compose(plan, pieces, background)
    return pixels if finish is None else finish(pixels)


def _compose(plan: Plan, pieces: list[np.ndarray], background: tuple) -> np.ndarray:
    left, top, right, bottom = plan.canvas
    width, height = right - left, bottom - top
    places = []  # (canvas box, piece part) of every piece, clipped to the canvas
    for i, ((origin_x, origin_y), piece) in enumerate(zip(plan.origins, pieces)):
        parts = plan.parts[i] if plan.parts else None
        if parts is None:
            _place(places, piece, origin_x - left, origin_y - top, width, height)
        for sx, sy, w, h, x, y in parts or ():
            _place(places, piece[sy:sy + h, sx:sx + w], x - left, y - top, width, height)
    boxes = [box for box, _ in places]
    if len(boxes) <= ONE_JOB_TILES and _tile_exactly(boxes, width, height):
        canvas = np.empty((height, width, 3), np.uint8)  # every pixel is painted below
    else:
        canvas = solid(height, width, background)
    for (x0, y0, x1, y1), part in places:
        canvas[y0:y1, x0:x1] = part
    return np.ascontiguousarray(resize(canvas, plan.size, plan.box))


def _place(places: list, piece: np.ndarray, px: int, py: int, width: int, height: int) -> None:
    """Adds the part of the piece at (px, py) that falls on the width x height canvas."""
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + piece.shape[1], width), min(py + piece.shape[0], height)
    if x1 > x0 and y1 > y0:
        places.append(((x0, y0, x1, y1), piece[y0 - py:y1 - py, x0 - px:x1 - px]))


def _tile_exactly(boxes: list[tuple[int, int, int, int]], width: int, height: int) -> bool:
    """Whether the boxes cover the width x height canvas without overlapping: then no
    background shows, and filling it first would only cost a pass over the canvas (a few
    pieces only: the check is quadratic)."""
    if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) != width * height:
        return False
    return not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])


def thumbnail_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """The size fitting in max_size x max_size with the slide's aspect (never enlarged)."""
    if max_size <= 0:
        raise BadRequest(f"thumbnail size must be positive, not {max_size}")
    scale = max(width / max_size, height / max_size, 1.0)
    return max(1, round(width / scale)), max(1, round(height / scale))


def thumbnail(slide, max_size: int, background: tuple | None = None,
              finish: Callable[[np.ndarray], T] | None = None) -> np.ndarray | T:
    """The whole slide fitting in max_size, read from the smallest sufficient level."""
    base = slide.levels[0]
    size = thumbnail_size(base.width, base.height, max_size)
    return read_region(slide, 0, 0, base.width, base.height, *size, background=background,
                       finish=finish)
