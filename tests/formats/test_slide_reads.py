"""Slide.read_tiles and read_associated: batching, lazy offsets, NDPI virtual tiles, limits."""

import dataclasses

import imagecodecs
import numpy
import pytest
import tifffile

import synthetic
from helpers import testdata_path
from slide_access import open_slide
from tile_decoder import decode
from wsi_blueprint.counters import Counters
from wsi_blueprint.errors import CorruptSlide, NotFound
from wsi_blueprint.formats import Slide
from wsi_blueprint.formats.index import IntArray, read_entries


def _spy_read_many(slide) -> list[list[tuple[int, int]]]:
    """Records the ranges of every read_many call the slide makes."""
    calls, real = [], slide.blocks.read_many

    def read_many(ranges):
        ranges = list(ranges)
        calls.append(ranges)
        return real(ranges)

    slide.blocks.read_many = read_many
    return calls


def test_tiles_come_in_order_with_their_place(real_slide):
    slide = real_slide("CMU-1-Small-Region.svs")  # 2220 x 2967 in 240 x 240 tiles
    assert slide.tile_grid(0) == (10, 13)
    edge, first = slide.read_tiles(0, [(9, 12), (0, 0)])
    assert (first.x, first.y, first.valid_width, first.valid_height) == (0, 0, 240, 240)
    assert (edge.x, edge.y) == (2160, 2880)
    assert (edge.width, edge.height, edge.valid_width, edge.valid_height) == (240, 240, 60, 87)
    assert edge.is_edge and not first.is_edge


def test_all_tiles_of_a_call_are_read_with_one_read_many(real_slide):
    slide = real_slide("CMU-1-Small-Region.svs")  # offsets inline in the index
    calls = _spy_read_many(slide)
    coords = [(c, r) for r in range(3, 6) for c in range(2, 8)]
    slide.read_tiles(0, coords)
    assert len(calls) == 1 and len(calls[0]) == len(coords)


def test_adjacent_tiles_cost_one_store_request(real_slide):
    counters = Counters()
    slide = real_slide("TCGA-CR-7395-J2K-33005.svs", counters, block_size="16K")
    before = counters.get("store_requests")
    tiles = slide.read_tiles(0, [(c, 7) for c in range(4, 12)])  # one row, stored in order
    assert counters.get("store_requests") - before == 1
    assert counters.get("store_bytes") >= sum(len(t.data) for t in tiles)


def test_offsets_kept_in_the_file_are_read_for_the_asked_tiles_only(synthetic_slides):
    name = "subifd-bigtiff.tiff"
    slide = synthetic_slides.open(name)
    layout = slide.levels[0].layout
    assert layout.offsets.values is None  # 432 tiles: referenced, not copied
    calls = _spy_read_many(slide)
    coords = [(5, 9), (6, 9), (7, 9)]
    tiles = slide.read_tiles(0, coords)
    entries, data = calls  # one call for the offsets and byte counts, one for the tiles
    assert len(entries) == 2 and len(data) == 3
    assert all(length <= 3 * 8 for _, length in entries)
    with tifffile.TiffFile(f"{synthetic_slides.folder}/{name}") as tiff:
        page = tiff.pages.first
        columns = slide.tile_grid(0)[0]
        for (c, r), tile in zip(coords, tiles):
            assert len(tile.data) >= page.databytecounts[r * columns + c]


@pytest.mark.parametrize("level, coords", [(-1, [(0, 0)]), (1, [(0, 0)]), (0, [(10, 0)]),
                                           (0, [(0, 13)]), (0, [(0, 0), (-1, 0)])])
def test_out_of_range_is_not_found(real_slide, level, coords):
    slide = real_slide("CMU-1-Small-Region.svs")
    with pytest.raises(NotFound):
        slide.read_tiles(level, coords)


def test_unknown_level_and_associated_image_are_not_found(real_slide):
    slide = real_slide("TCGA-CR-7395-J2K-33005.svs")
    with pytest.raises(NotFound):
        slide.tile_grid(2)
    with pytest.raises(NotFound):
        slide.read_associated("label")  # this slide has only a thumbnail


def test_associated_strips_cover_the_image(real_slide):
    slide = real_slide("CMU-1-Small-Region.svs")
    label = slide.index.associated["label"]  # 387 x 463 in LZW strips of 7 rows
    pieces = slide.read_associated("label")
    assert [p.y for p in pieces] == list(range(0, label.height, 7))
    assert {p.x for p in pieces} == {0} and {p.width for p in pieces} == {label.width}
    assert sum(p.height for p in pieces) == label.height
    assert pieces[-1].height == pieces[-1].valid_height == label.height % 7


def _whole_ndpi_level(slide, number: int) -> numpy.ndarray:
    layout = slide.levels[number].layout
    stream = slide.blocks.read(layout.stream_offset, layout.stream_length)
    return imagecodecs.jpeg8_decode(stream)


def test_ndpi_virtual_tiles_equal_the_decoded_level(real_slide):
    """Built from restart intervals, each tile decodes to exactly the rows of the level."""
    slide = real_slide("DAPI-fluorescence.ndpi")
    for number in (0, 1, 2):
        level = slide.levels[number]
        whole = _whole_ndpi_level(slide, number)
        columns, rows = slide.tile_grid(number)
        for tile in slide.read_tiles(number, [(0, 0), (0, rows // 2), (0, rows - 1)]):
            pixels = decode(tile)
            expected = whole[tile.y:tile.y + tile.valid_height, tile.x:tile.x + tile.valid_width]
            assert (tile.width, tile.height) == (tile.valid_width, tile.valid_height)
            assert numpy.array_equal(pixels, expected), (number, tile.y)
        assert level.tile_height == 256


def test_ndpi_tile_reads_only_its_intervals(real_slide):
    counters = Counters()
    slide = real_slide("DAPI-fluorescence.ndpi", counters, block_size="16K")
    layout = slide.levels[0].layout
    before = counters.get("store_bytes")
    tile, = slide.read_tiles(0, [(0, 9)])
    read = counters.get("store_bytes") - before
    assert read < layout.stream_length / 8
    assert len(tile.data) < read + 1000


@pytest.mark.parametrize("width, height, subsampling, interval", [
    (2048, 1024, "444", 4),   # 8 x 8 MCUs, intervals 32 pixels wide
    (2000, 1000, "420", 5),   # 16 x 16 MCUs, intervals 80 wide; partial MCUs at the edges
])
def test_ndpi_tiles_from_intervals_narrower_than_the_level(tmp_path, width, height,
                                                           subsampling, interval):
    """The common brightfield layout: many restart intervals per MCU row. A tile is a block
    of intervals from several rows, joined with markers renumbered, and edge tiles stop at
    the level's edge."""
    source = tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)
    stream = synthetic.restart_jpeg(source[:height, :width], subsampling, interval)
    synthetic.write_ndpi(str(tmp_path / "slide.ndpi"), stream, width, height,
                         starts_high=subsampling == "420")
    slide = open_slide(f"file://{tmp_path}", "slide.ndpi")
    assert slide.index.format == "hamamatsu" and slide.index.objective_power == 20
    layout = slide.levels[0].layout
    assert (layout.starts_high is not None) == (subsampling == "420")
    mcu = 8 if subsampling == "444" else 16
    assert layout.interval_width == interval * mcu
    assert layout.intervals_per_row * layout.interval_width >= width
    whole = imagecodecs.jpeg8_decode(stream)
    columns, rows = slide.tile_grid(0)
    tiles = slide.read_tiles(0, [(c, r) for r in range(rows) for c in range(columns)])
    assert sum(t.valid_width * t.valid_height for t in tiles) == width * height
    worst = 0.0
    for tile in tiles:
        expected = whole[tile.y:tile.y + tile.valid_height, tile.x:tile.x + tile.valid_width]
        worst = max(worst, numpy.abs(decode(tile).astype(int) - expected).mean())
    # 4:2:0 chroma is upsampled from neighbouring pixels, which a tile decoded alone lacks
    # along its borders (OpenSlide's NDPI tiles differ the same way); 4:4:4 is bit-exact.
    print(subsampling, "worst MAD", worst)
    assert worst == 0 if subsampling == "444" else worst < 0.5


def _with_level0_layout(slide, **changes) -> Slide:
    level = slide.levels[0]
    level = dataclasses.replace(level, layout=dataclasses.replace(level.layout, **changes))
    return Slide(dataclasses.replace(slide.index, levels=(level,) + slide.levels[1:]),
                 slide.blocks)


def test_an_unbelievable_byte_count_is_corrupt_not_a_huge_read(real_slide):
    slide = real_slide("boxes.tiff")
    counts = slide.levels[0].layout.byte_counts
    garbled = IntArray(counts.count, (10**9,) + counts.values[1:])
    with pytest.raises(CorruptSlide):
        _with_level0_layout(slide, byte_counts=garbled).read_tiles(0, [(0, 0)])


def test_ndpi_starts_out_of_order_are_corrupt(real_slide):
    slide = real_slide("DAPI-fluorescence.ndpi")
    starts = slide.levels[0].layout.starts
    values = read_entries(slide.blocks, [starts], list(range(starts.count)))[0]
    backwards = IntArray(starts.count, tuple(values[i] for i in reversed(range(starts.count))))
    with pytest.raises(CorruptSlide):
        _with_level0_layout(slide, starts=backwards).read_tiles(0, [(0, 1)])
