"""The level model on a real slide read through the file store: a regular grid, a sparse grid
whose missing tiles read as the fill colour, placed tiles painted in stored order."""

import dataclasses

import numpy as np
import pytest
import tifffile

from imaging.support import real_slide
from wsi_blueprint.formats.index import SlideIndex
from wsi_blueprint.formats.levels import PlacedTiles, RegularGrid, SparseGrid
from wsi_blueprint.formats.slide import Slide
from wsi_blueprint.imaging.region import read_region
from wsi_blueprint.reader import RegionRequest, SlideReader

RED, BLUE, WHITE = (200, 0, 0), (0, 0, 200), (255, 255, 255)


@pytest.fixture(scope="module")
def two_tiles(tmp_path_factory) -> Slide:
    """128 x 64 pixels stored losslessly as two 64 px tiles: red, then blue."""
    pixels = np.zeros((64, 128, 3), np.uint8)
    pixels[:, :64] = RED
    pixels[:, 64:] = BLUE
    path = tmp_path_factory.mktemp("levels") / "two.tiff"
    tifffile.imwrite(path, pixels, tile=(64, 64), compression="zlib", photometric="rgb")
    return real_slide(str(path))


def with_level0(slide: Slide, **changes) -> Slide:
    index = slide.index
    level0 = dataclasses.replace(index.levels[0], **changes)
    return Slide(dataclasses.replace(index, levels=(level0, *index.levels[1:])), slide.blocks)


def colours(pixels: np.ndarray, *columns: int) -> list[tuple]:
    return [tuple(int(v) for v in pixels[32, x]) for x in columns]


def test_a_tiff_level_is_a_regular_grid(two_tiles):
    model = two_tiles.level_model(0)
    assert type(model) is RegularGrid and model.grid == (2, 1) and model.scale == (1.0, 1.0)
    assert model.tiles_meeting(60, 0, 70, 10) == [(0, 0), (1, 0)]
    assert model.origin(1, 0) == (64, 0) and model.integer_scale(128, 64) == 1


def test_a_sparse_grid_reads_its_missing_tiles_as_the_fill_colour(two_tiles):
    sparse = with_level0(two_tiles, present=(0,))
    model = sparse.level_model(0)
    assert isinstance(model, SparseGrid) and not model.stored(1, 0)
    assert model.tiles_meeting(0, 0, 128, 64) == [(0, 0)]
    missing = sparse.read_tiles(0, [(1, 0)])[0]  # no error, no read
    assert missing.sparse and missing.x == 64
    assert len(sparse.tile_ranges(0, [(0, 0), (1, 0)])) == 1
    pixels = read_region(sparse, 0, 0, 128, 64, 128, 64)
    assert colours(pixels, 10, 100) == [RED, WHITE]
    # A request that is exactly the missing tile is rendered (fill), not passed through.
    reader = SlideReader(sparse, "two.tiff")
    gap, stored = (RegionRequest(x, 0, 64, 64, 64, 64, "jpeg", 90) for x in (64, 0))
    assert reader.stored_tile_of(gap) is None and reader.stored_tile_of(stored) == (0, 0, 0)


def test_placed_tiles_overlap_with_the_later_one_on_top(two_tiles):
    placed = with_level0(two_tiles, positions=((0, 0), (48, 0)))
    model = placed.level_model(0)
    assert isinstance(model, PlacedTiles) and not model.whole_tiles
    assert model.tiles_meeting(40, 0, 50, 10) == [(0, 0), (1, 0)]
    assert model.tiles_meeting(120, 0, 128, 10) == []  # no tile reaches past 112: a gap
    pixels = read_region(placed, 0, 0, 128, 64, 128, 64)
    assert colours(pixels, 10, 47, 48, 111, 112, 127) == [RED, RED, BLUE, BLUE, WHITE, WHITE]
    swapped = with_level0(two_tiles, positions=((48, 0), (0, 0)))  # red stored first, at 48
    pixels = read_region(swapped, 0, 0, 128, 64, 128, 64)
    assert colours(pixels, 10, 63, 64, 111) == [BLUE, BLUE, RED, RED]
    # Placed tiles are never a grid cell: nothing passes through.
    reader = SlideReader(placed, "two.tiff")
    assert reader.stored_tile_of(RegionRequest(0, 0, 64, 64, 64, 64, "jpeg", 90)) is None


def test_what_a_format_states_survives_the_metadata_cache(two_tiles):
    stated = with_level0(two_tiles, present=(1,), positions=((0, 0), (50, 2)),
                         scale=(1.0, 1.0)).index
    again = SlideIndex.from_bytes(stated.to_bytes())
    assert again.levels[0] == stated.levels[0]
    assert b"present" not in two_tiles.index.to_bytes()  # a regular grid's index is as before
