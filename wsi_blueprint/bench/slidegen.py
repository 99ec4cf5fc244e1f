"""Benchmark slides: realistic multi-level Aperio SVS files, generated once and cached.

A real slide's cost comes from its layout, not from unique pixels: tens of thousands of
240x240 JPEG tiles with shared JPEGTables, levels at 1, 1/4, 1/16, 1/64, tissue on a mostly
white glass. These files have exactly that, with real H&E pixels: level 0 is a mosaic of the
tiles of CMU-1-Small-Region.svs (a real Aperio scan) laid over a tissue mask of a few irregular
pieces, the rest near-white glass. Only the distinct tiles are encoded (about a hundred for
level 0, every tile of the smaller levels), each as Aperio does it (RGB JPEG without colour
transform, component ids 0, 1, 2, no APP14 marker, quality 30, tables shared in JPEGTables),
so a 40000 x 30000 slide takes seconds to write instead of encoding 1.2 gigapixels.

Without the real scan the pixels come from the synthetic tissue pattern of `sample.py`.
Files live in `~/.cache/wsi_blueprint/bench/slides-v<N>/` (or the folder given) and are reused
while the generator version and their parameters are unchanged.
"""

import dataclasses
import os
import struct
import tempfile

import numpy as np

GENERATOR_VERSION = 1
TILE = 240
QUALITY = 30
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_DQT, _DHT, _SOF0, _SOS = 0xDB, 0xC4, 0xC0, 0xDA


# Another writer's layout (libvips, bfconvert, Philips and most converters): BigTIFF, 512 px
# tiles of YCbCr 4:2:0 JPEG with their own tables, a level at every halving, the reduced
# levels in level 0's SubIFDs.
PYRAMID_TILE = 512
PYRAMID_QUALITY = 80


@dataclasses.dataclass(frozen=True)
class SlideSpec:
    slide_id: str
    width: int
    height: int
    seed: int
    layout: str = "aperio"  # or "pyramid"

    def factors(self) -> list[int]:
        """Aperio's 1, 4, 16, 64, or a pyramid's 1, 2, 4, ..., while the level is still at
        least a tile across."""
        if self.layout == "pyramid":
            found = [1]
            while min(self.width, self.height) / (found[-1] * 2) >= PYRAMID_TILE:
                found.append(found[-1] * 2)
            return found
        return [f for f in (1, 4, 16, 64) if f == 1 or min(self.width, self.height) / f >= TILE]


# A case of three slides of different sizes, as a pathologist opens them one after another.
FULL_CASE = (SlideSpec("case-0001/A1.svs", 40000, 30000, 1),
             SlideSpec("case-0001/A2.svs", 32000, 24000, 2),
             SlideSpec("case-0001/B1.svs", 24000, 18000, 3))
QUICK_CASE = (SlideSpec("case-quick/A1.svs", 8000, 6000, 1),
              SlideSpec("case-quick/A2.svs", 6000, 4800, 2))


def as_pyramid(case: tuple[SlideSpec, ...]) -> tuple[SlideSpec, ...]:
    """The same case as another writer lays it out: same sizes and tissue, other files."""
    return tuple(SlideSpec(spec.slide_id.replace("case-", "pyramid-").replace(".svs", ".tiff"),
                           spec.width, spec.height, spec.seed, "pyramid") for spec in case)


LAYOUTS = ("aperio", "pyramid")


def case_of(layout: str, quick: bool) -> tuple[SlideSpec, ...]:
    """The benchmark case in `layout`: the full one or the quick one."""
    case = QUICK_CASE if quick else FULL_CASE
    return as_pyramid(case) if layout == "pyramid" else case


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wsi_blueprint", "bench")


def find_testdata(explicit: str | None = None) -> str | None:
    """The folder of shared test slides: explicit, $WSI_TESTDATA, ../shared/testdata beside
    the working directory or beside the repository."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (explicit, os.environ.get("WSI_TESTDATA"),
                      os.path.join(os.getcwd(), "..", "shared", "testdata"),
                      os.path.join(here, "..", "..", "..", "shared", "testdata")):
        if candidate and os.path.isfile(os.path.join(candidate, "CMU-1-Small-Region.svs")):
            return os.path.abspath(candidate)
    return None


# -- pixels --------------------------------------------------------------------------------

def source_mosaic(testdata: str | None) -> tuple[np.ndarray, str]:
    """(RGB pixels whose size is a multiple of the tile size, where they came from)."""
    if testdata:
        import tifffile

        path = os.path.join(testdata, "CMU-1-Small-Region.svs")
        pixels = tifffile.imread(path, key=0)
        rows, cols = pixels.shape[0] // TILE, pixels.shape[1] // TILE
        return (np.ascontiguousarray(pixels[:rows * TILE, :cols * TILE]),
                "CMU-1-Small-Region.svs (real Aperio H&E pixels)")
    from ..sample import _tissue

    return _tissue(9 * TILE, 12 * TILE), "synthetic tissue pattern (CMU-1-Small-Region.svs absent)"


def tissue_mask(spec: SlideSpec) -> np.ndarray:
    """Which level-0 tiles hold tissue: a few irregular blobs, seeded; rows x columns."""
    rng = np.random.default_rng(spec.seed)
    rows, cols = -(-spec.height // TILE), -(-spec.width // TILE)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    y, x = (y + 0.5) / rows, (x + 0.5) / cols
    mask = np.zeros((rows, cols), bool)
    pieces = int(rng.integers(2, 5))
    for i in range(pieces):
        cx, cy = rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)
        rx, ry = rng.uniform(0.08, 0.22), rng.uniform(0.08, 0.2)
        angle = np.arctan2(y - cy, x - cx)
        wobble = 1 + 0.18 * np.sin(3 * angle + rng.uniform(0, 6)) \
            + 0.10 * np.sin(7 * angle + rng.uniform(0, 6))
        mask |= ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= wobble ** 2
    return mask


def _glass(seed: int, size: int = TILE) -> np.ndarray:
    """Near-white glass with a little sensor noise, as real background tiles look."""
    rng = np.random.default_rng(seed)
    base = np.array([242, 241, 245], np.float32)
    return np.clip(base + rng.normal(0, 1.6, (size, size, 3)), 0, 255).astype(np.uint8)


class VirtualSlide:
    """Level-0 pixels of a spec, computable for any window at any subsampling."""

    def __init__(self, spec: SlideSpec, source: np.ndarray):
        self.spec = spec
        self.source = source
        self.src_rows, self.src_cols = source.shape[0] // TILE, source.shape[1] // TILE
        rng = np.random.default_rng(spec.seed + 100)
        self.offset = (int(rng.integers(0, self.src_cols)), int(rng.integers(0, self.src_rows)))
        self.mask = tissue_mask(spec)
        self.glass = [_glass(spec.seed * 10 + k) for k in range(4)]

    def level0_tile_key(self, col: int, row: int) -> tuple:
        if self.mask[row, col]:
            return ("tissue", (col + self.offset[0]) % self.src_cols,
                    (row + self.offset[1]) % self.src_rows)
        return ("glass", (col * 7 + row * 3) % len(self.glass))

    def level0_tile_pixels(self, key: tuple) -> np.ndarray:
        if key[0] == "tissue":
            c, r = key[1], key[2]
            return self.source[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]
        return self.glass[key[1]]

    def window(self, factor: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Pixels (x..x+w, y..y+h) of the level subsampled by `factor` (zeros past the edge,
        as TIFF pads edge tiles)."""
        xs = (np.arange(x, x + w) * factor)
        ys = (np.arange(y, y + h) * factor)
        inside_x, inside_y = xs < self.spec.width, ys < self.spec.height
        xs, ys = np.minimum(xs, self.spec.width - 1), np.minimum(ys, self.spec.height - 1)
        tcol, trow = xs // TILE, ys // TILE
        tissue = self.mask[np.ix_(trow, tcol)]
        sx = (xs + self.offset[0] * TILE) % self.source.shape[1]
        sy = (ys + self.offset[1] * TILE) % self.source.shape[0]
        pixels = self.source[np.ix_(sy, sx)]
        glass = self.glass[0][np.ix_(ys % TILE, xs % TILE)]
        out = np.where(tissue[..., None], pixels, glass)
        out[~inside_y, :] = 0
        out[:, ~inside_x] = 0
        return out


# -- Aperio JPEG -----------------------------------------------------------------------------

def marker_segments(stream: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """([(marker, whole segment)] from after SOI up to SOS included, scan data after SOS)."""
    segments, position = [], 2
    while True:
        marker = stream[position + 1]
        length = struct.unpack(">H", stream[position + 2:position + 4])[0]
        segments.append((marker, stream[position:position + 2 + length]))
        position += 2 + length
        if marker == _SOS:
            return segments, stream[position:]


def aperio_component_ids(segment: bytes, marker: int) -> bytes:
    """Component ids 0, 1, 2 in a SOF or SOS segment, as Aperio writes RGB JPEG."""
    data = bytearray(segment)
    if marker == _SOF0:
        for i in range(data[9]):
            data[10 + 3 * i] = i
    elif marker == _SOS:
        for i in range(data[4]):
            data[5 + 2 * i] = i
    return bytes(data)


class AperioEncoder:
    """RGB JPEG as Aperio writes it: tables split off into one shared JPEGTables."""

    def __init__(self, quality: int = QUALITY):
        self.quality = quality
        self.tables: bytes | None = None

    def encode(self, tile: np.ndarray) -> bytes:
        import imagecodecs

        stream = imagecodecs.jpeg8_encode(np.ascontiguousarray(tile), level=self.quality,
                                          colorspace="RGB", outcolorspace="RGB",
                                          optimize=False)
        segments, scan = marker_segments(stream)
        tables = _SOI + b"".join(s for m, s in segments if m in (_DQT, _DHT)) + _EOI
        if self.tables is None:
            self.tables = tables
        elif tables != self.tables:
            raise RuntimeError("JPEG tiles of one level must share their tables")
        kept = [aperio_component_ids(s, m) for m, s in segments
                if m not in (_DQT, _DHT) and not 0xE0 <= m <= 0xEF]
        return _SOI + b"".join(kept) + scan


# -- the file --------------------------------------------------------------------------------

def _description(spec: SlideSpec, size: tuple[int, int] | None) -> str:
    w, h = spec.width, spec.height
    reduced = f" -> {size[0]}x{size[1]}" if size else ""
    text = (f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}){reduced} "
            f"JPEG/RGB Q={QUALITY}")
    if size is None:
        name = os.path.splitext(os.path.basename(spec.slide_id))[0]
        text += (f"|AppMag = 40|MPP = 0.2500|ScanScope ID = WSIBENCH|Filename = {name}"
                 f"|Date = 01/02/24|Time = 09:00:00")
    return text


def write_slide(path: str, spec: SlideSpec, source: np.ndarray, icc_profile: bytes = b"") -> str:
    """The slide at `path`, with `icc_profile` in level 0's tag 34675 if one is given (Aperio
    layout only)."""
    virtual = VirtualSlide(spec, source)
    tmp_dir = os.path.dirname(path)
    os.makedirs(tmp_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".svs", dir=tmp_dir)
    os.close(fd)
    try:
        if spec.layout == "pyramid":
            _write_pyramid(tmp, spec, virtual)
        else:
            _write_aperio(tmp, spec, virtual, icc_profile)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _write_pyramid(tmp: str, spec: SlideSpec, virtual: VirtualSlide) -> None:
    import tifffile

    factors = spec.factors()
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        for i, factor in enumerate(factors):
            width, height = -(-spec.width // factor), -(-spec.height // factor)

            def tiles(factor=factor, width=width, height=height):
                for y in range(0, height, PYRAMID_TILE):
                    for x in range(0, width, PYRAMID_TILE):
                        yield virtual.window(factor, x, y, PYRAMID_TILE, PYRAMID_TILE)
            tif.write(tiles(), shape=(height, width, 3), dtype=np.uint8,
                      tile=(PYRAMID_TILE, PYRAMID_TILE), compression="jpeg",
                      compressionargs={"level": PYRAMID_QUALITY}, photometric="ycbcr",
                      subsampling=(2, 2), metadata=None,
                      subifds=len(factors) - 1 if i == 0 else None,
                      subfiletype=1 if i else 0,
                      description="generated pyramid" if i == 0 else None,
                      resolution=(1e4 / 0.25, 1e4 / 0.25) if i == 0 else None,
                      resolutionunit="CENTIMETER" if i == 0 else None)


def _write_aperio(tmp: str, spec: SlideSpec, virtual: VirtualSlide, icc_profile: bytes) -> None:
    import tifffile

    with tifffile.TiffWriter(tmp, bigtiff=False) as tif:
        for i, factor in enumerate(spec.factors()):
            width, height = -(-spec.width // factor), -(-spec.height // factor)
            cols, rows = -(-width // TILE), -(-height // TILE)
            encoder = AperioEncoder()
            if factor == 1:
                encoded: dict[tuple, bytes] = {}

                def tiles():
                    for row in range(rows):
                        for col in range(cols):
                            key = virtual.level0_tile_key(col, row)
                            if key not in encoded:
                                encoded[key] = encoder.encode(
                                    virtual.level0_tile_pixels(key))
                            yield encoded[key]
            else:
                def tiles(factor=factor, cols=cols, rows=rows, encoder=encoder):
                    for row in range(rows):
                        for col in range(cols):
                            yield encoder.encode(virtual.window(
                                factor, col * TILE, row * TILE, TILE, TILE))
            stream = tiles()
            first = next(stream)  # sets the encoder's tables

            def chained(first=first, stream=stream):
                yield first
                yield from stream
            tif.write(chained(), shape=(height, width, 3), dtype=np.uint8,
                      tile=(TILE, TILE), compression=7, photometric="rgb",
                      jpegtables=encoder.tables, compressionargs={"outcolorspace": "rgb"},
                      subsampling=(1, 1), metadata=None,
                      description=_description(spec, (width, height) if i else None),
                      extratags=[(34675, 7, len(icc_profile), icc_profile, True)]
                      if icc_profile and i == 0 else [])
            if i == 0:
                thumb_factor = max(1, max(spec.width, spec.height) // 1024)
                thumb = virtual.window(thumb_factor, 0, 0, -(-spec.width // thumb_factor),
                                       -(-spec.height // thumb_factor))
                tif.write(thumb, rowsperstrip=16, compression="jpeg", photometric="rgb",
                          metadata=None,
                          description=f"Aperio Image Library v12.0.15 \n{spec.width}x"
                                      f"{spec.height} -> {thumb.shape[1]}x{thumb.shape[0]}"
                                      f" - ")


@dataclasses.dataclass
class BenchSlide:
    slide_id: str
    path: str
    width: int
    height: int
    size: int


def ensure_slides(specs=FULL_CASE, cache_dir: str | None = None, testdata: str | None = None,
                  log=print) -> tuple[list[BenchSlide], str]:
    """The slides of `specs`, written where missing; (slides, where their pixels came from)."""
    testdata = find_testdata(testdata)
    origin = "real" if testdata else "synthetic"
    folder = os.path.join(cache_dir or default_cache_dir(),
                          f"slides-v{GENERATOR_VERSION}-{origin}")
    source, described = None, ("CMU-1-Small-Region.svs (real Aperio H&E pixels)" if testdata
                               else "synthetic tissue pattern (CMU-1-Small-Region.svs absent)")
    slides = []
    for spec in specs:
        path = os.path.join(folder, spec.slide_id)
        if not os.path.isfile(path):
            if source is None:
                source, described = source_mosaic(testdata)
            log(f"generating benchmark slide {spec.slide_id} ({spec.width}x{spec.height}) "
                f"in {folder}")
            write_slide(path, spec, source)
        slides.append(BenchSlide(spec.slide_id, path, spec.width, spec.height,
                                 os.path.getsize(path)))
    return slides, described
