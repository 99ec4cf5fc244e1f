"""Region assembly on local pyramids written by the test (pixels known exactly)."""

import random
import threading

import numpy as np
import pytest
from PIL import Image

from imaging.support import FakeLevel, TiffSlide, mean_abs_diff, write_pyramid
from wsi_blueprint.errors import BadRequest, TooLarge
from wsi_blueprint.formats.levels import RegularGrid
from wsi_blueprint.imaging import region
from wsi_blueprint.imaging.region import best_level, plan_region, read_region, region_tiles, \
    thumbnail


def texture(height: int, width: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (height // 25, width // 25, 3), np.uint8))
    coarse = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC))
    return np.clip(coarse.astype(np.int16) + rng.integers(-12, 13, (height, width, 3)),
                   0, 255).astype(np.uint8)


def reduced(pixels: np.ndarray, factor: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).reduce(factor))


@pytest.fixture(scope="module")
def truth():
    return texture(500, 600)


@pytest.fixture(scope="module")
def lossless(truth, tmp_path_factory):
    """Deflate levels at downsample 1, 2 and 8: 600x500, 300x250, 75x63; 64 px tiles."""
    path = str(tmp_path_factory.mktemp("pyramids") / "deflate.tiff")
    write_pyramid(path, [truth, reduced(truth, 2), reduced(truth, 8)], 64,
                  compression="zlib", predictor=True, photometric="rgb")
    slide = TiffSlide(path)
    yield slide
    slide.close()


@pytest.fixture(scope="module")
def jpeg_single_level(truth, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pyramids") / "jpeg.tiff")
    write_pyramid(path, [truth], 64, compression="jpeg", compressionargs={"level": 95},
                  photometric="rgb")
    slide = TiffSlide(path)
    yield slide
    slide.close()


def test_native_level_pixels_come_back_exactly(lossless, truth):
    assert (read_region(lossless, 0, 0, 600, 500, 600, 500) == truth).all()
    part = read_region(lossless, 100, 37, 300, 200, 300, 200)
    assert (part == truth[37:237, 100:400]).all() and part.flags.c_contiguous
    level1 = reduced(truth, 2)
    assert (read_region(lossless, 0, 0, 600, 500, 300, 250) == level1).all()
    assert lossless.calls[-1][0] == 1


def test_one_read_tiles_call_with_just_the_tiles_needed(lossless):
    lossless.calls.clear()
    read_region(lossless, 100, 37, 300, 200, 300, 200)
    assert len(lossless.calls) == 1
    level, coords = lossless.calls[0]
    # x 100..399 -> columns 1..6, y 37..236 -> rows 0..3
    assert level == 0 and sorted(coords) == [(c, r) for c in range(1, 7) for r in range(4)]


def test_region_tiles_are_the_tiles_a_render_reads_at_any_size(lossless, monkeypatch):
    rng = random.Random(3)
    for _ in range(300):
        x, y = rng.randrange(600), rng.randrange(500)
        w, h = rng.randint(1, 600 - x), rng.randint(1, 500 - y)
        scale = rng.choice([0.5, 1, 1.3, 2, 3, 4, 6, 8, 12])
        out = (max(1, round(w / scale)), max(1, round(h / scale)))
        plan = plan_region(lossless, x, y, w, h, *out)
        assert region_tiles(lossless, x, y, w, h, *out) == (plan.level, plan.coords)
    # Past a render's limits (a prefetched frame grown and drawn out) it still names them.
    monkeypatch.setattr(region, "MAX_CANVAS_PIXELS", 100)
    with pytest.raises(TooLarge):
        plan_region(lossless, 0, 0, 600, 500, 600, 500)
    level, coords = region_tiles(lossless, 0, 0, 600, 500, 600, 500)
    assert level == 0 and sorted(coords) == [(c, r) for c in range(10) for r in range(8)]
    monkeypatch.setattr(region, "MAX_TILES", 79)  # its tiles' table entries are still read
    with pytest.raises(TooLarge):
        region_tiles(lossless, 0, 0, 600, 500, 600, 500)
    with pytest.raises(BadRequest):
        region_tiles(lossless, 0, 0, 0, 500, 1, 500)


def test_between_levels_tiles_are_reduced_before_the_canvas(lossless, truth):
    # Output at downsample 4: level 1 (2) reduced by 2 per tile, no resampling after.
    plan = plan_region(lossless, 64, 128, 256, 256, 64, 64)
    assert (plan.level, plan.reduce, plan.box) == (1, 2, (0, 0, 64, 64))
    out = read_region(lossless, 64, 128, 256, 256, 64, 64)
    assert (out == reduced(reduced(truth, 2)[64:192, 32:160], 2)).all()


def test_fractional_scale_is_close_to_lanczos_of_the_truth(lossless, truth):
    out = read_region(lossless, 50, 20, 500, 450, 170, 153)
    expected = Image.fromarray(truth[20:470, 50:550]).resize((170, 153),
                                                             Image.Resampling.LANCZOS)
    assert out.shape == (153, 170, 3)
    # Measured 1.4: area-averaged steps against one Lanczos pass over this noisy texture.
    assert mean_abs_diff(out, np.asarray(expected)) < 3


def test_outside_the_slide_is_background(lossless, truth):
    out = read_region(lossless, 500, 400, 200, 200, 200, 200)
    assert (out[:100, :100] == truth[400:, 500:]).all()
    assert (out[100:] == 255).all() and (out[:, 100:] == 255).all()
    lossless.calls.clear()
    assert (read_region(lossless, 1000, 1000, 50, 50, 10, 10, background=(0, 0, 0)) == 0).all()
    assert lossless.calls == []
    # Any colour, each channel its own (not only grey).
    coloured = read_region(lossless, 500, 400, 200, 200, 200, 200, background=(10, 20, 30))
    assert (coloured[:100, :100] == truth[400:, 500:]).all()
    assert (coloured[100:] == (10, 20, 30)).all() and (coloured[:, 100:] == (10, 20, 30)).all()


def test_thumbnail_from_a_full_resolution_jpeg_level_never_builds_a_full_canvas(
        jpeg_single_level, truth, monkeypatch):
    reductions = []
    real = region.decode

    def spy(tile, reduce=1, background=(255, 255, 255)):
        reductions.append((reduce, threading.get_ident()))
        return real(tile, reduce, background)
    monkeypatch.setattr(region, "decode", spy)
    plan = plan_region(jpeg_single_level, 0, 0, 600, 500, 100, 83)
    left, top, right, bottom = plan.canvas
    assert plan.reduce == 4 and (right - left, bottom - top) == (150, 125)
    thumb = thumbnail(jpeg_single_level, 100)
    assert thumb.shape == (83, 100, 3)
    assert {r for r, _ in reductions} == {4}
    assert threading.get_ident() not in {t for _, t in reductions}
    expected = Image.fromarray(truth).resize((100, 83), Image.Resampling.LANCZOS)
    assert mean_abs_diff(thumb, np.asarray(expected)) < 3


def test_level_choice_tolerates_rounded_level_sizes():
    class Levels:
        def __init__(self, *sizes):
            self.levels = [FakeLevel(w, h, 256, 256, 0) for w, h in sizes]

        def level_model(self, i):
            base, level = self.levels[0], self.levels[i]
            return RegularGrid(level.width, level.height, 256, 256,
                               (base.width / level.width, base.height / level.height))
    generic = Levels((40000, 30000), (9997, 7499), (2499, 1874))
    assert [best_level(generic, s, s) for s in (1, 3.9, 4, 15.5, 16, 100)] == [0, 0, 1, 1, 2, 2]
    boxes = Levels((300, 250), (150, 125), (75, 62), (37, 31))
    assert [best_level(boxes, s, s) for s in (2, 4, 8, 8.2)] == [1, 2, 2, 3]
    # anisotropic requests need a level fine enough on both axes
    assert best_level(boxes, 8, 2) == 1


def test_bad_and_oversized_requests(lossless, monkeypatch):
    with pytest.raises(BadRequest):
        read_region(lossless, 0, 0, 0, 10, 10, 10)
    with pytest.raises(BadRequest):
        thumbnail(lossless, 0)
    monkeypatch.setattr(region, "MAX_CANVAS_PIXELS", 100 * 100)
    with pytest.raises(TooLarge):
        read_region(lossless, 0, 0, 600, 500, 600, 500)
    monkeypatch.setattr(region, "MAX_TILES", 4)
    with pytest.raises(TooLarge):
        read_region(lossless, 0, 0, 300, 300, 100, 100)
