import numpy as np
import pytest
from PIL import Image

from imaging.support import mean_abs_diff
from wsi_blueprint.imaging.resample import resize


@pytest.fixture(scope="module")
def picture():
    """Texture at several scales, like tissue: coarse blobs plus fine detail."""
    rng = np.random.default_rng(11)
    coarse = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    coarse = np.asarray(coarse.resize((720, 720), Image.Resampling.BICUBIC)).astype(np.int16)
    fine = rng.integers(-20, 21, (720, 720, 3))
    return np.clip(coarse + fine, 0, 255).astype(np.uint8)


def lanczos(pixels, size, box=None):
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS, box=box))


def test_integer_factors_are_area_averages(picture):
    part = picture[:512, :512]
    for factor in (2, 4, 8):
        expected = np.asarray(Image.fromarray(part).reduce(factor))
        np.testing.assert_array_equal(resize(part, (512 // factor,) * 2), expected)


@pytest.mark.parametrize("source, target", [(512, 300), (700, 256), (720, 100), (100, 150)])
def test_other_factors_stay_close_to_plain_lanczos(picture, source, target):
    part = np.ascontiguousarray(picture[:source, :source])
    out = resize(part, (target, target))
    assert out.shape == (target, target, 3)
    # Measured: 0 (no integer step), 1.1-1.3 (an area-averaged step first, on noisy texture).
    assert mean_abs_diff(out, lanczos(part, (target, target))) < 2


def test_fractional_box(picture):
    box = (10.5, 20.25, 522.5, 532.25)
    out = resize(picture, (256, 256), box)
    assert out.shape == (256, 256, 3)
    # Measured 2.5: an area average of the fine +-20 noise differs from Lanczos' sharper one.
    assert mean_abs_diff(out, lanczos(picture, (256, 256), box)) < 3.5


def test_a_box_off_only_by_rounding_is_cropped_not_blurred(picture):
    out = resize(picture, (256, 200), (100.3, 49.6, 356.2, 249.8))
    np.testing.assert_array_equal(out, picture[50:250, 100:356])
    same = resize(picture, (720, 720))
    assert same.shape == picture.shape and np.shares_memory(same, picture)
