"""Viewing-session traces: the DZI requests OpenSeadragon makes as a pathologist reads a case.

A trace is JSONL, one request a line, in the order a viewer sends them:

    {"session": "s1", "step": 7, "t": 12.48, "action": "pan", "slide": "case-0001/A1.svs",
     "kind": "tile", "level": 15, "url": "dzi/case-0001/A1.svs_files/15/42_31.jpeg"}

`url` is relative to the server's root (the blueprint's mount point), so one trace replays
against any server with the same URL layout. Requests of one `step` (one view of the slide)
are sent together, a step starting when the previous one has loaded; `t` is the time in the
session at which the viewer moved (seconds), for a replay that keeps the reading pace. Only
`url` is required: a recorded log (see request_log.py) without `session` is one session and
without `step` is cut into steps where requests are more than a gap apart.

The generator models OpenSeadragon's defaults on a 1600 x 900 viewport: a view shows the
finest DZI level with at least half a level pixel per screen pixel, and asks for the missing
tiles of that level and of coarser ones down to the first level already loaded for the view,
coarse first, centre out (a new slide: every level from 0 up). A tile is asked for once a
session (the browser caches it: tiles are served with a day's max-age). Zooms animate one
factor of two per frame, navigator jumps pass through two intermediate views.

A session reads a case in one of three ways:

- explore (the default): open a slide at the overview, scan the tissue at low power, zoom into
  several regions (10x, 20x, 40x) drawn from the tissue seen in the thumbnail, reached through
  the navigator (a jump), pan there, zoom out, then switch to the next slide of the case (two
  slides a session by default, each session starting with another);
- screen: the systematic search of a screening read (lymph nodes for metastases, cytology):
  open, zoom to about 10x at a corner of the tissue, then sweep it in rows, a screen at a
  time with a short look at each, east along one row, down, west along the next, now and then
  zooming in on something and back out, until the tissue is seen or the screens are counted;
- wander: from low power, zoom a level at a time about the pointer, pan a third to a half of a
  screen at a time, often turning, zoom back out a level.

and its viewer may blend each screen in over the coarser level, ask for IIIF tiles (Mirador)
and send no session header. `STYLES` names the combinations the prefetch evaluation replays.
"""

import argparse
import dataclasses
import json
import math
import random
import urllib.parse

import numpy as np

from ..protocols.dzi import DeepZoom
from ..protocols.iiif import IiifTiling

VIEWPORT = (1600, 900)
FRAME = 0.12  # seconds between the frames of an animation


def screen_size(text: str) -> tuple[int, int]:
    """`1024x768` -> (1024, 768), for a command line's screen option."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if not (256 <= width <= 8192 and 256 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"{text}: each side from 256 to 8192 pixels")
    return width, height


@dataclasses.dataclass(frozen=True)
class Geometry(DeepZoom):
    """A DZI pyramid exactly as the server describes it, plus what a viewer sees of it."""

    tile_size: int = 240
    overlap: int = 0

    def visible_tiles(self, level: int, x0: float, y0: float, x1: float, y1: float
                      ) -> list[tuple[int, int]]:
        """Tiles of `level` meeting the level-0 rectangle (clipped to the image)."""
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(self.width), x1), min(float(self.height), y1)
        if x1 <= x0 or y1 <= y0:
            return []
        span = self.tile_size * self.scale(level)
        cols, rows = self.grid(level)
        c0, c1 = int(x0 // span), min(cols - 1, int((x1 - 1e-6) // span))
        r0, r1 = int(y0 // span), min(rows - 1, int((y1 - 1e-6) // span))
        return [(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


@dataclasses.dataclass
class SlideInfo:
    slide_id: str
    geometry: Geometry
    tissue: list  # level-0 (x, y) points on tissue
    native: tuple = ()  # downsamples of the stored levels (1, 4, 16, ...)

    def to_json(self) -> dict:
        return {"slide_id": self.slide_id, "geometry": dataclasses.asdict(self.geometry),
                "tissue_points": len(self.tissue), "native": list(self.native)}

    def derived_tiles(self, levels: int = 7, seed: int = 1
                      ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """(level, col, row) of every tile of the finest `levels` DZI levels that no stored
        level matches (the tiles a server decodes, resamples and encodes), as (tiles showing
        tissue, the others), each in a seeded random order."""
        g = self.geometry
        tissue, other = set(), []
        for level in range(max(0, g.max_level - levels + 1), g.max_level + 1):
            if g.scale(level) in self.native:
                continue
            span = g.tile_size * g.scale(level)
            marked = {(level, int(x // span), int(y // span)) for x, y in self.tissue}
            tissue |= marked
            cols, rows = g.grid(level)
            other += [(level, c, r) for r in range(rows) for c in range(cols)
                      if (level, c, r) not in marked]
        rng = random.Random(seed)
        tissue_list = sorted(tissue)
        rng.shuffle(tissue_list)
        rng.shuffle(other)
        return tissue_list, other


def tissue_points(pixels: np.ndarray, width: int, height: int, limit: int = 60000,
                  seed: int = 0) -> list[tuple[int, int]]:
    """Level-0 points where a thumbnail shows tissue: coloured or dark, not white glass."""
    rgb = pixels[..., :3].astype(np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    tissue = (spread > 18) | (rgb.mean(axis=2) < 200)
    ys, xs = np.nonzero(tissue)
    if not len(xs):  # nothing looks like tissue: the whole slide is the target
        ys, xs = np.mgrid[0:pixels.shape[0], 0:pixels.shape[1]].reshape(2, -1)
    fx, fy = width / pixels.shape[1], height / pixels.shape[0]
    order = np.random.default_rng(seed).permutation(len(xs))[:limit]
    return [(int((xs[i] + 0.5) * fx), int((ys[i] + 0.5) * fy)) for i in order]


def slide_info_from_store(store_url: str, slide_id: str) -> SlideInfo:
    """Geometry and tissue of a slide read through this package's own data path."""
    from ..imaging.region import thumbnail
    from ..settings import Settings
    from ..state import WSIState

    state = WSIState.build(Settings.from_mapping({"WSI_STORE": store_url}))
    reader = state.readers.open(slide_id)
    slide = reader.slide
    width, height = slide.index.width, slide.index.height
    pixels = thumbnail(slide, 384)
    native = tuple(sorted({round(level.downsample) for level in slide.levels
                           if level.width == -(-width // round(level.downsample))}))
    return SlideInfo(slide_id, Geometry(width, height, reader.tile_size, 0),
                     tissue_points(pixels, width, height), native)


def slide_info_from_file(path: str, slide_id: str | None = None) -> SlideInfo:
    """The same for a local file, named `slide_id` in the trace (default: its file name)."""
    import os

    path = os.path.realpath(path)
    info = slide_info_from_store("file://" + os.path.dirname(path), os.path.basename(path))
    return dataclasses.replace(info, slide_id=slide_id or os.path.basename(path))


def slide_info_from_server(base_url: str, slide_id: str, timeout: float = 30) -> SlideInfo:
    """The same from a running server: its DZI descriptor and thumbnail."""
    import io
    import xml.etree.ElementTree as ET

    import PIL.Image
    import requests

    quoted = urllib.parse.quote(slide_id, safe="/")
    answer = requests.get(f"{base_url.rstrip('/')}/dzi/{quoted}.dzi", timeout=timeout)
    answer.raise_for_status()
    root = ET.fromstring(answer.content)
    size = next(e for e in root if e.tag.endswith("Size"))
    geometry = Geometry(int(size.get("Width")), int(size.get("Height")),
                        int(root.get("TileSize")), int(root.get("Overlap")))
    thumb = requests.get(f"{base_url.rstrip('/')}/slides/{quoted}/thumbnail?max_size=384",
                         timeout=timeout)
    if thumb.status_code == 200:
        pixels = np.asarray(PIL.Image.open(io.BytesIO(thumb.content)).convert("RGB"))
        tissue = tissue_points(pixels, geometry.width, geometry.height)
    else:
        tissue = [(geometry.width // 2, geometry.height // 2)]
    native: tuple = ()
    meta = requests.get(f"{base_url.rstrip('/')}/slides/{quoted}", timeout=timeout)
    if meta.status_code == 200:
        native = tuple(sorted({round(level["downsample"])
                               for level in meta.json().get("levels", [])}))
    return SlideInfo(slide_id, geometry, tissue, native)


def tile_url(slide_id: str, level: int, col: int, row: int, query: str = "") -> str:
    quoted = urllib.parse.quote(slide_id, safe="/")
    return f"dzi/{quoted}_files/{level}/{col}_{row}.jpeg" + (f"?{query}" if query else "")


def dzi_url(slide_id: str, query: str = "") -> str:
    return f"dzi/{urllib.parse.quote(slide_id, safe='/')}.dzi" + (f"?{query}" if query else "")


def iiif_scale_factors(g: Geometry) -> list[int]:
    """The scale factors info.json advertises: down to the one whose image fits a tile."""
    return IiifTiling(g.width, g.height, g.tile_size, "jpg", 0).scale_factors


def iiif_tile_url(slide_id: str, g: Geometry, level: int, col: int, row: int,
                  query: str = "") -> str:
    """A tile as OpenSeadragon's IIIF tile source asks for it from an Image API 3 service:
    `x,y,w,h/w,h` on the advertised grid (the whole image as `full` once it fits a tile)."""
    scale = g.scale(level)
    span = g.tile_size * scale
    x, y = col * span, row * span
    w, h = min(span, g.width - x), min(span, g.height - y)
    region = "full" if (w, h) == (g.width, g.height) else f"{x},{y},{w},{h}"
    quoted = urllib.parse.quote(slide_id, safe="/")
    return (f"iiif/3/{quoted}/{region}/{-(-w // scale)},{-(-h // scale)}/0/default.jpg"
            + (f"?{query}" if query else ""))


def tile_level(url: str, g: Geometry) -> int | None:
    """The DZI level of a tile request named by DZI, or by IIIF as `x,y,w,h` (or `full`) at
    a size `w,` or `w,h` (a recorded viewer's): the level whose scale is the region's width
    over the width asked for. None for an image of another kind (a thumbnail `!w,h`)."""
    path = urllib.parse.urlsplit(url).path
    if "_files/" in path:
        return int(path.rsplit("/", 2)[-2])
    region, size = path.split("/")[-4:-2]
    shown = size.split(",")[0]
    if not shown.isdigit() or not (region == "full" or region.count(",") == 3):
        return None
    width = g.width if region == "full" else int(region.split(",")[2])
    return g.max_level - round(math.log2(width / int(shown)))


def tile_url_as(protocol: str, info: "SlideInfo", level: int, col: int, row: int) -> str:
    """The DZI tile (level, col, row) of a slide as `protocol` names it: "dzi", or "iiif" for
    the same pixels on the grid info.json advertises."""
    if protocol == "iiif":
        return iiif_tile_url(info.slide_id, info.geometry, level, col, row)
    return tile_url(info.slide_id, level, col, row)


def iiif_info_url(slide_id: str, query: str = "") -> str:
    return (f"iiif/3/{urllib.parse.quote(slide_id, safe='/')}/info.json"
            + (f"?{query}" if query else ""))


class Viewer:
    """An OpenSeadragon viewer's requests as its viewport moves. `blend`: every screen also
    asks for the level under the one it draws (OpenSeadragon blending a level in over the
    coarser one); `iiif`: tiles from the IIIF Image API 3 service (Mirador) instead of DZI;
    `header`: the session id goes with each request (`X-WSI-Session`)."""

    def __init__(self, session: str, rng: random.Random, viewport=VIEWPORT, query: str = "",
                 blend: bool = False, iiif: bool = False, header: bool = True):
        self.session = session
        self.rng = rng
        self.vw, self.vh = viewport
        self.query = query
        self.blend, self.iiif, self.header = blend, iiif, header
        self.records: list[dict] = []
        self.t = 0.0
        self.step = 0
        self.loaded: set = set()
        self.described: set = set()
        self.slide: SlideInfo | None = None
        self.cx = self.cy = 0.0
        self.z = 1.0  # level-0 pixels per screen pixel

    # -- geometry ------------------------------------------------------------------------------

    @property
    def geometry(self) -> Geometry:
        return self.slide.geometry

    def home_zoom(self) -> float:
        return max(self.geometry.width / self.vw, self.geometry.height / self.vh)

    def min_zoom(self) -> float:
        return 1 / 1.1  # OpenSeadragon's maxZoomPixelRatio: 1.1 screen pixels per image pixel

    def drawn_level(self) -> int:
        """Finest level with at least half a level pixel per screen pixel."""
        g = self.geometry
        level = math.floor(g.max_level - math.log2(max(self.z / 2, 1e-9)) + 1e-9)
        return max(0, min(g.max_level, level))

    def _clamp(self) -> None:
        self.z = min(max(self.z, self.min_zoom()), self.home_zoom())
        self.cx = min(max(self.cx, 0.0), float(self.geometry.width))
        self.cy = min(max(self.cy, 0.0), float(self.geometry.height))

    # -- requests ------------------------------------------------------------------------------

    def min_level(self) -> int:
        """The coarsest level the viewer knows: IIIF's coarsest scale factor, DZI's level 0."""
        if not self.iiif:
            return 0
        return self.geometry.max_level - int(math.log2(iiif_scale_factors(self.geometry)[-1]))

    def _record(self, action: str, kind: str, url: str, **more) -> None:
        record = {"session": self.session, "step": self.step, "t": round(self.t, 3),
                  "action": action, "slide": self.slide.slide_id, "kind": kind, **more,
                  "url": url}
        if self.header:
            record["headers"] = {"X-WSI-Session": self.session}
        self.records.append(record)

    def _emit(self, action: str) -> int:
        g, sid = self.geometry, self.slide.slide_id
        half_w, half_h = self.vw * self.z / 2, self.vh * self.z / 2
        x0, y0, x1, y1 = self.cx - half_w, self.cy - half_h, self.cx + half_w, self.cy + half_h
        wanted = []
        drawn = max(self.drawn_level(), self.min_level())
        for level in range(drawn, self.min_level() - 1, -1):
            span = g.tile_size * g.scale(level)
            missing = [(level, c, r) for c, r in g.visible_tiles(level, x0, y0, x1, y1)
                       if (sid, level, c, r) not in self.loaded]
            if not missing and (level < drawn or not self.blend):
                break  # this level covers the view: OpenSeadragon looks no coarser
            missing.sort(key=lambda t, span=span: ((t[1] + 0.5) * span - self.cx) ** 2
                         + ((t[2] + 0.5) * span - self.cy) ** 2)
            wanted.append(missing)
            if self.blend and level < drawn:
                break  # blending: the drawn level over the one under it, no coarser
        if self.blend:  # both levels in one queue, nearest the centre first
            tiles = sorted((t for level_tiles in wanted for t in level_tiles), key=lambda t: (
                (t[1] + 0.5) * g.tile_size * g.scale(t[0]) - self.cx) ** 2 + (
                (t[2] + 0.5) * g.tile_size * g.scale(t[0]) - self.cy) ** 2)
        else:
            tiles = [t for level_tiles in reversed(wanted) for t in level_tiles]
        if not tiles:
            return 0
        for level, col, row in tiles:
            self.loaded.add((sid, level, col, row))
            self._record(action, "tile", iiif_tile_url(sid, g, level, col, row, self.query)
                         if self.iiif else tile_url(sid, level, col, row, self.query),
                         level=level)
        self.step += 1
        return len(tiles)

    # -- actions -------------------------------------------------------------------------------

    def open(self, slide: SlideInfo) -> None:
        self.slide = slide
        self.z = self.home_zoom()
        self.cx, self.cy = slide.geometry.width / 2, slide.geometry.height / 2
        if slide.slide_id not in self.described:
            self.described.add(slide.slide_id)
            self._record("open", "dzi", iiif_info_url(slide.slide_id, self.query)
                         if self.iiif else dzi_url(slide.slide_id, self.query))
        self._emit("open")

    def think(self, low: float, high: float) -> None:
        self.t += self.rng.uniform(low, high)

    def zoom_to(self, x: float, y: float, z: float, action: str = "zoom") -> None:
        """Animated zoom towards (x, y): one frame per factor of two."""
        z = min(max(z, self.min_zoom()), self.home_zoom())
        z0, cx0, cy0 = self.z, self.cx, self.cy
        frames = max(1, math.ceil(abs(math.log2(z / z0)) - 1e-9))
        for k in range(1, frames + 1):
            f = k / frames
            self.z = z0 * (z / z0) ** f
            self.cx, self.cy = cx0 + (x - cx0) * f, cy0 + (y - cy0) * f
            self._clamp()
            self.t += FRAME
            self._emit(action)

    def pan_to(self, x: float, y: float, action: str = "pan", frames: int = 2) -> None:
        """A drag (and its glide), or a navigator jump with intermediate views."""
        cx0, cy0 = self.cx, self.cy
        for k in range(1, frames + 1):
            f = k / frames
            self.cx, self.cy = cx0 + (x - cx0) * f, cy0 + (y - cy0) * f
            self._clamp()
            self.t += FRAME
            self._emit(action)

    def drag(self, dx_screen: float, dy_screen: float) -> None:
        self.pan_to(self.cx + dx_screen * self.z, self.cy + dy_screen * self.z)


# -- sessions --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Profile:
    """How much a session reads, and how its viewer asks."""
    regions_first: int = 2      # regions examined closely on the first slide of the case
    regions_other: int = 1      # ... on each other slide
    scan_pans: tuple = (1, 2)   # low-power pans of the first scan
    deep_pans: tuple = (2, 3)   # pans at high power per region
    think: tuple = (0.8, 4.0)   # seconds of looking between moves
    slides: int = 2             # slides of the case read per session (0: all)
    style: str = "explore"      # or "screen", "wander"
    screens: int = 30           # screen style: screens swept per slide
    moves: int = 24             # wander style: moves per slide
    zoom_share: float = 0.35    # wander style: share of moves that zoom a level in or out
    pan: tuple = (0.3, 0.5)     # wander style: a pan's length, in screens
    turn: float = 0.5           # wander style: chance that a pan changes direction
    start: tuple = (7.0, 12.0)  # wander style: the first zoom (level-0 pixels a screen pixel)
    blend: bool = False         # the coarser level asked with every screen (see Viewer)
    iiif: bool = False          # IIIF Image API tiles (Mirador) instead of DZI
    header: bool = True         # the viewer sends its session id (X-WSI-Session)


FULL = Profile()
QUICK = Profile(regions_first=1, regions_other=1, scan_pans=(1, 1), deep_pans=(1, 2),
                think=(0.5, 2.0))
SCREEN = Profile(style="screen", think=(0.5, 1.5), slides=1, screens=30)
QUICK_SCREEN = Profile(style="screen", think=(0.3, 0.8), slides=1, screens=8)
WANDER = Profile(style="wander", think=(0.5, 2.0), slides=1)

# Viewing styles: the project's own (explore, screen), on which the prefetcher was built, and
# viewers it was not built on. Each is parameters of the generator, so any seed is a session
# of the style.
STYLES = {
    "explore": FULL,
    "screen": SCREEN,
    "no-header": dataclasses.replace(FULL, header=False),
    "blend": dataclasses.replace(FULL, blend=True),
    "zoom-steps": dataclasses.replace(WANDER, zoom_share=0.7),
    "pans": dataclasses.replace(WANDER, zoom_share=0.1, start=(1.0, 4.0)),
    "mirador": dataclasses.replace(FULL, iiif=True),
    # All of the above but Mirador at once: a viewer sending no header, blending, stepping a
    # level at a time into new places and panning in short turning strokes.
    "mixed": dataclasses.replace(WANDER, blend=True, header=False, start=(2.0, 12.0)),
}


def quick(profile: Profile) -> Profile:
    """A shorter session of the same style (of an explore style, as QUICK is of FULL)."""
    return dataclasses.replace(profile, regions_first=1, regions_other=1, scan_pans=(1, 1),
                               deep_pans=(1, 2), think=(min(profile.think[0], 0.5),
                                                        min(profile.think[1], 2.0)),
                               screens=min(profile.screens, 12), moves=min(profile.moves, 12))


def _near(points: list, x: float, y: float, radius: float, rng: random.Random):
    """A tissue point within `radius` of (x, y) if there is one, else any tissue point."""
    for _ in range(40):
        p = rng.choice(points)
        if (p[0] - x) ** 2 + (p[1] - y) ** 2 <= radius ** 2:
            return p
    return rng.choice(points)


def _read_slide(v: Viewer, slide: SlideInfo, regions: int, profile: Profile) -> None:
    rng, tissue = v.rng, slide.tissue or [(slide.geometry.width / 2,
                                            slide.geometry.height / 2)]
    v.open(slide)
    v.think(*profile.think)
    # Scan at low power (about 4x: 10 level-0 pixels per screen pixel on a 40x scan).
    low = rng.uniform(7, 12)
    x, y = rng.choice(tissue)
    v.zoom_to(x, y, low, "zoom-in")
    v.think(*profile.think)
    for _ in range(rng.randint(*profile.scan_pans)):
        step = 0.6 * v.vw * v.z
        x, y = _near(tissue, v.cx, v.cy, 1.5 * step, rng)
        dx, dy = x - v.cx, y - v.cy
        d = math.hypot(dx, dy)
        if d > step:
            dx, dy = dx / d * step, dy / d * step
        v.pan_to(v.cx + dx, v.cy + dy, "scan")
        v.think(0.4, 1.5)
    # Regions at high power.
    for r in range(regions):
        high = rng.choices([4.0, 2.0, 1.0], weights=[3, 4, 3])[0]
        x, y = rng.choice(tissue)
        if v.z <= 4 and rng.random() < 0.5:
            v.pan_to(x, y, "jump", frames=3)   # navigator click at high power
        else:
            if v.z < low:
                v.zoom_to(v.cx, v.cy, low, "zoom-out")
            v.pan_to(x, y, "jump", frames=2)
        v.zoom_to(x, y, high, "zoom-in")
        v.think(*profile.think)
        heading = rng.uniform(0, 2 * math.pi)
        for _ in range(rng.randint(*profile.deep_pans)):
            heading += rng.uniform(-0.9, 0.9)
            length = rng.uniform(0.3, 0.7)
            v.drag(math.cos(heading) * length * v.vw, math.sin(heading) * length * v.vh)
            v.think(0.5, 3.0)
        if r == regions - 1 or rng.random() < 0.5:
            v.zoom_to(v.cx, v.cy, low, "zoom-out")
            v.think(0.5, 2.0)


def _screen_slide(v: Viewer, slide: SlideInfo, profile: Profile) -> None:
    rng = v.rng
    xs = [p[0] for p in slide.tissue] or [slide.geometry.width / 2]
    ys = [p[1] for p in slide.tissue] or [slide.geometry.height / 2]
    v.open(slide)
    v.think(*profile.think)
    z = rng.uniform(3.5, 4.5)  # about 10x on a 40x scan
    step_x, step_y = 0.85 * v.vw * z, 0.85 * v.vh * z  # screens overlap a little
    left, top = min(xs) + v.vw * z / 2, min(ys) + v.vh * z / 2
    right = max(left, max(xs) - v.vw * z / 2)
    bottom = max(top, max(ys) - v.vh * z / 2)
    v.zoom_to(left, top, z, "zoom-in")
    heading = 1
    for _ in range(profile.screens - 1):
        v.think(*profile.think)
        if rng.random() < 0.08:  # something to look at closely, then back to the sweep
            v.zoom_to(v.cx, v.cy, 1.0, "zoom-in")
            v.think(*profile.think)
            v.zoom_to(v.cx, v.cy, z, "zoom-out")
            v.think(*profile.think)
        x = v.cx + heading * step_x
        if left <= x <= right + step_x / 2:
            v.pan_to(x, v.cy, "pan")
        elif v.cy + step_y <= bottom + step_y / 2:  # a row's end: down, then back
            heading = -heading
            v.pan_to(v.cx, v.cy + step_y, "pan")
        else:  # the whole tissue has been seen
            break


def _wander_slide(v: Viewer, slide: SlideInfo, profile: Profile) -> None:
    """Reading without a plan: from low power, zoom a level at a time towards what catches the
    eye (the point under the pointer stays put, so every step lands somewhere new), pan a
    third to a half of a screen at a time, often turning, and zoom back out a level."""
    rng, tissue = v.rng, slide.tissue or [(slide.geometry.width / 2,
                                            slide.geometry.height / 2)]
    v.open(slide)
    v.think(*profile.think)
    low = rng.uniform(7, 12)  # about 4x on a 40x scan
    x, y = rng.choice(tissue)
    v.zoom_to(x, y, rng.uniform(*profile.start), "zoom-in")
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(profile.moves):
        v.think(*profile.think)
        if rng.random() < profile.zoom_share:
            may_in, may_out = v.z >= 1.9, v.z * 2 <= low
            if may_in and (not may_out or rng.random() < 0.6):
                # The pointer on something within the screen: zooming about it moves the
                # centre half way towards it.
                half_w, half_h = 0.45 * v.vw * v.z, 0.45 * v.vh * v.z
                px, py = _near(tissue, v.cx, v.cy, half_h, rng)
                px = min(max(px, v.cx - half_w), v.cx + half_w)
                py = min(max(py, v.cy - half_h), v.cy + half_h)
                v.zoom_to((v.cx + px) / 2, (v.cy + py) / 2, v.z / 2, "zoom-in")
                continue
            if may_out:
                v.zoom_to(v.cx, v.cy, v.z * 2, "zoom-out")
                continue
        if rng.random() < profile.turn:
            heading += rng.choice((-1, 1)) * rng.uniform(math.pi / 3, math.pi)
        length = rng.uniform(*profile.pan)
        v.drag(math.cos(heading) * length * v.vw, math.sin(heading) * length * v.vh)


def generate_session(session: str, slides: list[SlideInfo], seed: int,
                     profile: Profile = FULL, viewport=VIEWPORT, query: str = "") -> list[dict]:
    """One pathologist reading a case: the slides in order, the first most closely."""
    rng = random.Random(f"{seed}-{session}")
    v = Viewer(session, rng, viewport, query, blend=profile.blend, iiif=profile.iiif,
               header=profile.header)
    for i, slide in enumerate(slides):
        if profile.style == "screen":
            _screen_slide(v, slide, profile)
        elif profile.style == "wander":
            _wander_slide(v, slide, profile)
        else:
            _read_slide(v, slide, profile.regions_first if i == 0 else profile.regions_other,
                        profile)
        v.think(1.0, 3.0)
    return v.records


def generate(slides: list[SlideInfo], sessions: int = 3, seed: int = 1,
             profile: Profile = FULL, viewport=VIEWPORT, query: str = "") -> list[dict]:
    """`sessions` sessions over the case; each starts with a different slide of it and reads
    `profile.slides` of them."""
    records = []
    for n in range(sessions):
        order = slides[n % len(slides):] + slides[:n % len(slides)]
        order = order[:profile.slides] if profile.slides else order
        records += generate_session(f"s{n + 1}", order, seed, profile, viewport, query)
    return records


# -- files -----------------------------------------------------------------------------------

def write_trace(path: str, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")


def read_trace(path: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if not isinstance(record, dict) or "url" not in record:
                raise ValueError(f"{path}:{number}: a trace line is a JSON object with a url")
            records.append(record)
    return records


def main(argv: list[str] | None = None) -> int:
    """python -m wsi_blueprint.bench.traces --server URL --slide ID [...] -o trace.jsonl"""
    parser = argparse.ArgumentParser(description="Generate viewing-session traces (JSONL).")
    parser.add_argument("--server", help="a running server to read geometry and thumbnails")
    parser.add_argument("--store", help="or a store URL (file:///dir, s3://bucket) to read "
                                        "them through this package")
    parser.add_argument("--slide", action="append", required=True, help="slide id (repeat)")
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--style", choices=tuple(STYLES), default="explore",
                        help="the viewer's style (default: explore)")
    parser.add_argument("--quick", action="store_true", help="shorter sessions")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    if bool(args.server) == bool(args.store):
        parser.error("give one of --server and --store")
    infos = [slide_info_from_server(args.server, s) if args.server
             else slide_info_from_store(args.store, s) for s in args.slide]
    profile = STYLES[args.style]
    records = generate(infos, args.sessions, args.seed, quick(profile) if args.quick else profile)
    write_trace(args.output, records)
    print(f"{len(records)} requests in {args.sessions} sessions written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
