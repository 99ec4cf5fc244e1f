import io

import numpy as np
import pytest
from PIL import Image

from imaging.support import mean_abs_diff
from wsi_blueprint.errors import BadRequest, TooLarge
from wsi_blueprint.imaging.encode import content_type, encode, output_format


@pytest.fixture
def pixels():
    y, x = np.mgrid[0:96, 0:128]
    return np.stack([x * 2, y * 2, (x + y) % 256], axis=2).astype(np.uint8)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt, pillow_format, tolerance", [
    ("jpeg", "JPEG", 3), ("jpg", "JPEG", 3), ("png", "PNG", 0), ("webp", "WEBP", 6)])
def test_round_trip_through_pillow(pixels, fmt, pillow_format, tolerance):
    image = opened(encode(pixels, fmt, quality=92))
    assert image.format == pillow_format and image.size == (128, 96)
    assert mean_abs_diff(np.asarray(image.convert("RGB")), pixels) <= tolerance


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_grey_pixels_encode(fmt, pixels):
    grey = pixels[:, :, 0].copy()
    image = opened(encode(grey, fmt))
    assert mean_abs_diff(np.asarray(image.convert("L")), grey) <= 3


def test_quality_trades_size(pixels):
    noisy = np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert len(encode(noisy, "jpeg", quality=30)) < len(encode(noisy, "jpeg", quality=95))
    assert len(encode(noisy, "webp", quality=30)) < len(encode(noisy, "webp", quality=95))


def test_formats_and_content_types():
    assert output_format("JPG") == "jpeg"
    assert [content_type(f) for f in ("jpg", "jpeg", "png", "webp")] == [
        "image/jpeg", "image/jpeg", "image/png", "image/webp"]
    for bad in ("gif", "tif", ""):
        with pytest.raises(BadRequest):
            output_format(bad)


def test_images_beyond_a_formats_limits_are_413():
    with pytest.raises(TooLarge):
        encode(np.zeros((1, 16384, 3), np.uint8), "webp")
    assert opened(encode(np.zeros((1, 16384, 3), np.uint8), "jpeg")).size == (16384, 1)
