"""Profiles attached to JPEG, PNG and WebP: every decoder finds exactly the profile, and the
image is otherwise the bytes it was."""

import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from helpers import testdata_path
from icc_slides import without_icc
from imaging.support import tile_at
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.imaging import jpeg_markers
from wsi_blueprint.imaging.icc_embed import Embedding
from wsi_blueprint.imaging.passthrough import native_tile_jpeg

SMALL = icc_profiles.swapped_primaries()
BIG = icc_profiles.lut_profile(65)  # 1.6 MB: 26 APP2 segments


@pytest.fixture(scope="module")
def stored_jpeg() -> bytes:
    """A passed-through Aperio tile: the stored stream with its Adobe marker."""
    return native_tile_jpeg(tile_at(testdata_path("CMU-1-Small-Region.svs"), 0))


@pytest.mark.parametrize("profile", [SMALL, BIG], ids=["small", "1.6MB"])
def test_a_passed_through_jpeg_carries_the_profile_and_nothing_else_changes(stored_jpeg,
                                                                            profile):
    embedded = Embedding(profile).into_jpeg(stored_jpeg)
    image = Image.open(io.BytesIO(embedded))
    assert image.info["icc_profile"] == profile
    assert without_icc(embedded) == stored_jpeg
    np.testing.assert_array_equal(np.asarray(image),
                                  np.asarray(Image.open(io.BytesIO(stored_jpeg))))


def test_jfif_stays_first_and_a_profile_already_there_is_replaced():
    jfif = imagecodecs.jpeg8_encode(np.zeros((16, 16, 3), np.uint8), 90)
    assert jpeg_markers.header_segments(jfif)[0].marker == 0xE0
    once = Embedding(BIG).into_jpeg(jfif)
    twice = Embedding(SMALL).into_jpeg(once)
    assert jpeg_markers.header_segments(twice)[0].marker == 0xE0
    assert Image.open(io.BytesIO(twice)).info["icc_profile"] == SMALL
    assert without_icc(twice) == jfif


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_png_and_webp_carry_the_profile_and_the_same_pixels(fmt, monkeypatch):
    # Pillow refuses decompressed chunks over 1 MB; libpng (browsers) allows 8 MB.
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_CHUNK", 8 * 1024 * 1024)
    pixels = np.random.default_rng(1).integers(0, 256, (37, 53, 3), np.uint8)
    plain = imagecodecs.png_encode(pixels) if fmt == "png" else \
        imagecodecs.webp_encode(pixels, 80, lossless=False)
    embedded = Embedding(BIG).attach(plain, fmt)
    image = Image.open(io.BytesIO(embedded))
    assert image.format == fmt.upper() and image.info["icc_profile"] == BIG
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")),
                                  np.asarray(Image.open(io.BytesIO(plain)).convert("RGB")))
    if fmt == "webp":  # libwebp itself reads the extended file
        np.testing.assert_array_equal(imagecodecs.webp_decode(embedded),
                                      imagecodecs.webp_decode(plain))
