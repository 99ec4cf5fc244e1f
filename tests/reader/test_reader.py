"""The slide reader on a real Aperio slide (240 px JPEG tiles): requests and their keys,
stored tiles passed through, everything else rendered, errors, and whose CPU pool it uses."""

import io

import numpy as np
import pytest
from PIL import Image

from imaging.support import real_slide
from wsi_blueprint.errors import NotFound
from wsi_blueprint.imaging.cpu_pool import CpuPool
from wsi_blueprint.reader import (AssociatedRequest, RegionRequest, SlideReader,
                                  StoredTileRequest, ThumbnailRequest, View)

CMU = "CMU-1-Small-Region.svs"  # 2220 x 2967, one level of 240 px tiles


@pytest.fixture(scope="module")
def reader() -> SlideReader:
    return SlideReader(real_slide(CMU), CMU)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_request_key_names_every_parameter_that_shapes_the_image(reader):
    base = RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80)
    variants = [RegionRequest(1, 0, 480, 480, 240, 240, "jpeg", 80),
                RegionRequest(0, 0, 480, 480, 240, 241, "jpeg", 80),
                RegionRequest(0, 0, 480, 480, 240, 240, "png", 80),
                RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 81),
                RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80, rotation=90),
                RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80, mirror=True),
                RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80, mode="gray"),
                RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80, color="srgb")]
    keys = {reader.key(r) for r in [base, *variants]}
    assert len(keys) == 9 and all(k.startswith(reader.namespace + "|") for k in keys)
    # Where a viewer shows it is no part of the image.
    shown = RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80, shown=View(0, 0, 512, 512, 2))
    assert shown == base and reader.key(shown) == reader.key(base)
    assert shown.view.scale == 2 and base.view == View(0, 0, 480, 480, 2.0)
    other_kinds = [StoredTileRequest(0, 0, 0, 80), ThumbnailRequest(240, "jpeg", 80),
                   AssociatedRequest("label", "jpeg", 80)]
    assert len({reader.key(r) for r in other_kinds} | keys) == 12


def test_a_request_that_is_a_stored_tile_passes_it_through(reader):
    req = RegionRequest(240, 480, 240, 240, 240, 240, "jpeg", 80)
    assert reader.stored_tile_of(req) == (0, 1, 2)
    assert reader.region(req) == reader.stored_tile(0, 1, 2, 80)
    # The edge tile: clipped to the slide (2220 = 9 * 240 + 60).
    edge = RegionRequest(2160, 0, 60, 240, 60, 240, "jpeg", 80)
    assert reader.stored_tile_of(edge) == (0, 9, 0)
    assert pixels(reader.region(edge)).shape == (240, 60, 3)


def test_every_other_request_is_rendered(reader):
    stored = pixels(reader.stored_tile(0, 1, 2, 80))
    for req in (RegionRequest(240, 480, 240, 240, 240, 240, "png", 80),
                RegionRequest(240, 480, 240, 240, 240, 240, "jpeg", 80, mirror=True),
                RegionRequest(241, 480, 240, 240, 240, 240, "jpeg", 80)):
        assert reader.stored_tile_of(req) is None
    png = pixels(reader.region(RegionRequest(240, 480, 240, 240, 240, 240, "png", 80)))
    assert np.abs(png.astype(int) - stored).mean() < 2  # the same pixels, decoded once
    mirrored = pixels(reader.region(
        RegionRequest(240, 480, 240, 240, 240, 240, "png", 80, mirror=True)))
    assert (mirrored == png[:, ::-1]).all()
    gray = Image.open(io.BytesIO(reader.region(
        RegionRequest(0, 0, 480, 480, 120, 120, "png", 80, rotation=90, mode="gray"))))
    assert gray.mode == "L" and gray.size == (120, 120)


def test_thumbnail_and_associated_images(reader):
    thumb = pixels(reader.thumbnail(300, "jpeg", 80))
    assert max(thumb.shape[:2]) == 300
    assert pixels(reader.associated("thumbnail", "png", 80)).shape[2] == 3


def test_what_is_not_there_is_404(reader):
    with pytest.raises(NotFound):
        reader.stored_tile_request(0, 10, 0, 80)  # 10 columns: 0-9
    with pytest.raises(NotFound):
        reader.stored_tile_request(1, 0, 0, 80)  # one level
    with pytest.raises(NotFound):
        reader.associated_request("overview", "jpeg", 80)


def test_a_stored_tile_request_is_placed_in_level0_pixels(reader):
    req = reader.stored_tile_request(0, 9, 12, 80)
    assert req.view == View(2160, 2880, 240, 240, 1.0)


class CountingPool(CpuPool):
    """A real pool that counts the jobs it is given."""

    def __init__(self, threads: int):
        super().__init__(threads)
        self.jobs = 0

    def map(self, fn, items, timeout=None):
        items = list(items)
        self.jobs += len(items)
        return super().map(fn, items, timeout)


def test_a_reader_does_its_cpu_work_in_its_own_pool():
    pool = CountingPool(threads=2)
    reader = SlideReader(real_slide(CMU), CMU, pool)
    try:
        reader.region(RegionRequest(0, 0, 480, 480, 240, 240, "jpeg", 80))  # rendered
        reader.thumbnail(64, "png", 80)
        assert pool.jobs >= 2
    finally:
        pool.close()


def test_what_a_view_costs_per_shown_pixel_is_how_much_finer_its_level_is(reader):
    """Stored pixels along a side read per pixel shown: 1 at a stored level's scale, more
    between levels or below the coarsest (what a foreseen view costs to fetch)."""
    assert [reader.stored_per_shown(s) for s in (1, 2, 4)] == [1, 2, 4]  # one level
    ndpi = SlideReader(real_slide("DAPI-fluorescence.ndpi"), "DAPI-fluorescence.ndpi")
    assert [ndpi.stored_per_shown(s) for s in (1, 2, 3, 8, 12)] == [1, 1, 1.5, 1, 1.5]
