"""Tiles cut straight out of local TIFF files with tifffile, and OpenSlide as the reference.

The formats layer builds `EncodedTile`s from a slide in the store; these helpers build the same
records from a local file so the imaging tests need nothing from formats but `tile.py`.
"""

import dataclasses

import numpy as np
import tifffile

from wsi_blueprint.formats.levels import RegularGrid
from wsi_blueprint.formats.tile import EncodedTile

COMPRESSION = {1: "none", 5: "lzw", 7: "jpeg", 8: "deflate", 32946: "deflate",
               33003: "jpeg2000", 33005: "jpeg2000", 50000: "zstd", 50001: "webp"}
PHOTOMETRIC = {1: "minisblack", 2: "rgb", 6: "ycbcr"}


def splice_tables(tables: bytes | None, data: bytes) -> bytes:
    """A complete JPEG stream from TIFF JPEGTables and an abbreviated tile stream."""
    return tables[:-2] + data[2:] if tables else data


def page_tile(page: tifffile.TiffPage, index: int) -> EncodedTile:
    fh = page.parent.filehandle
    fh.seek(page.dataoffsets[index])
    data = fh.read(page.databytecounts[index])
    compression = COMPRESSION[int(page.compression)]
    photometric = PHOTOMETRIC[int(page.photometric)]
    if int(page.compression) == 33003:
        photometric = "ycbcr"
    if compression == "jpeg":
        data = splice_tables(page.jpegtables, data)
    width = page.tilewidth or page.imagewidth
    height = page.tilelength or page.rowsperstrip
    cols = -(-page.imagewidth // width)
    row, col = divmod(index, cols)
    return EncodedTile(
        data=data, compression=compression, width=width, height=height,
        valid_width=min(width, page.imagewidth - col * width),
        valid_height=min(height, page.imagelength - row * height),
        photometric=photometric, samples=page.samplesperpixel, bits=page.bitspersample,
        predictor=int(page.predictor), sparse=page.databytecounts[index] == 0)


def tile_at(path: str, index: int, page: int = 0) -> EncodedTile:
    with tifffile.TiffFile(path) as tif:
        return page_tile(tif.pages[page], index)


def replace(tile: EncodedTile, **changes) -> EncodedTile:
    return dataclasses.replace(tile, **changes)


def openslide_region(path: str, x: int, y: int, level: int, w: int, h: int) -> np.ndarray:
    import openslide
    with openslide.OpenSlide(path) as slide:
        return np.asarray(slide.read_region((x, y), level, (w, h)).convert("RGB"))


def openslide_level(path: str, width: int, height: int) -> int:
    """OpenSlide's index of the level of this size (it may list levels we do not)."""
    import openslide
    with openslide.OpenSlide(path) as slide:
        return slide.level_dimensions.index((width, height))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@dataclasses.dataclass(frozen=True)
class FakeLevel:
    width: int
    height: int
    tile_width: int
    tile_height: int
    downsample: float


class TiffSlide:
    """The `Slide` surface imaging uses (levels, tile_grid, read_tiles) over a local pyramid
    written as one TIFF page per level; counts its read_tiles calls."""

    def __init__(self, path: str):
        self._tif = tifffile.TiffFile(path)
        pages = list(self._tif.pages)
        base = pages[0]
        self.levels = tuple(FakeLevel(
            p.imagewidth, p.imagelength, p.tilewidth, p.tilelength,
            (base.imagewidth / p.imagewidth + base.imagelength / p.imagelength) / 2)
            for p in pages)
        self._pages = pages
        self.calls: list[tuple[int, list]] = []

    def tile_grid(self, level: int) -> tuple[int, int]:
        page = self._pages[level]
        return -(-page.imagewidth // page.tilewidth), -(-page.imagelength // page.tilelength)

    def level_model(self, level: int) -> RegularGrid:
        page, base = self._pages[level], self._pages[0]
        return RegularGrid(page.imagewidth, page.imagelength, page.tilewidth, page.tilelength,
                           (base.imagewidth / page.imagewidth,
                            base.imagelength / page.imagelength))

    def read_tiles(self, level: int, coords: list) -> list[EncodedTile]:
        self.calls.append((level, list(coords)))
        columns = self.tile_grid(level)[0]
        return [page_tile(self._pages[level], row * columns + column) for column, row in coords]

    def close(self) -> None:
        self._tif.close()


def write_pyramid(path: str, levels: list[np.ndarray], tile: int, **options) -> None:
    """One tiled page per level, as generic pyramidal TIFFs store them."""
    with tifffile.TiffWriter(path) as tif:
        for i, pixels in enumerate(levels):
            tif.write(pixels, tile=(tile, tile), subfiletype=1 if i else 0, **options)


def real_slide(name_or_path: str):
    """A formats `Slide` opened through the file store, as the app opens one."""
    import os

    from helpers import make_settings, testdata_path
    from wsi_blueprint.caches import BlockReader, Caches
    from wsi_blueprint.counters import Counters
    from wsi_blueprint.formats import Slide, parse_slide
    from wsi_blueprint.storage import open_store

    path = name_or_path if os.path.isabs(name_or_path) else testdata_path(name_or_path)
    folder, name = os.path.split(path)
    settings = make_settings(store="file://" + folder)
    counters = Counters()
    store = open_store(settings, counters)
    reader = store.open(name)
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks,
                         settings.block_size, f"{store.name}|{name}|{reader.etag}")
    return Slide(parse_slide(blocks, name), blocks)
