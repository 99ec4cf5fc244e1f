import io
import threading

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from helpers import testdata_path as slide_path
from imaging.support import (mean_abs_diff, openslide_level, openslide_region, real_slide,
                             replace, tile_at)
from wsi_blueprint.errors import CorruptSlide
from wsi_blueprint.formats.tile import EncodedTile
from wsi_blueprint.imaging import passthrough
from wsi_blueprint.imaging.jpeg_markers import ADOBE_RGB, frame
from wsi_blueprint.imaging.passthrough import native_tile_jpeg

CMU = "CMU-1-Small-Region.svs"


def shown(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and frame(data).browser_safe
    return np.asarray(image.convert("RGB"))


@pytest.fixture
def decoded_in(monkeypatch):
    """The threads in which tiles were decoded."""
    threads = []
    real = passthrough.decode

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)
    monkeypatch.setattr(passthrough, "decode", spy)
    return threads


def test_full_rgb_jpeg_tile_goes_out_as_stored_plus_the_adobe_marker(decoded_in):
    path = slide_path(CMU)
    tile = tile_at(path, 23)
    out = native_tile_jpeg(tile)
    assert out == b"\xff\xd8" + ADOBE_RGB + tile.data[2:]
    assert decoded_in == []
    assert mean_abs_diff(shown(out), openslide_region(path, 720, 480, 0, 240, 240)) < 3


def test_full_ycbcr_tile_is_returned_as_is(decoded_in):
    stream = imagecodecs.jpeg8_encode(np.full((64, 64, 3), 120, np.uint8), 90)
    tile = EncodedTile(stream, "jpeg", 64, 64, 64, 64, "ycbcr")
    assert native_tile_jpeg(tile) is stream
    assert decoded_in == []


def test_edge_tile_is_decoded_in_the_pool_cropped_and_encoded(decoded_in):
    path = slide_path(CMU)
    out = native_tile_jpeg(tile_at(path, 9), quality=90)  # 60 of 240 columns are inside
    pixels = shown(out)
    assert pixels.shape == (240, 60, 3)
    assert mean_abs_diff(pixels, openslide_region(path, 2160, 0, 0, 60, 240)) < 3
    assert decoded_in and threading.get_ident() not in decoded_in


@pytest.mark.parametrize("name, index, x, y, size", [
    ("boxes.tiff", 0, 0, 0, 64),                          # deflate
    ("TCGA-CR-7395-J2K-33005.svs", 20, 512, 256, 256),    # JPEG 2000
])
def test_other_codecs_become_jpeg(name, index, x, y, size):
    path = slide_path(name)
    pixels = shown(native_tile_jpeg(tile_at(path, index), quality=90))
    assert pixels.shape == (size, size, 3)
    assert mean_abs_diff(pixels, openslide_region(path, x, y, 0, size, size)) < 3


def test_jpeg_browsers_cannot_show_is_transcoded():
    rgb = np.full((32, 32, 3), (10, 200, 90), np.uint8)
    lossless = imagecodecs.jpeg8_encode(rgb, lossless=True)
    tile = EncodedTile(lossless, "jpeg", 32, 32, 32, 32, "rgb")
    assert mean_abs_diff(shown(native_tile_jpeg(tile)), rgb) < 3


def test_sparse_tile_is_a_background_tile():
    tile = EncodedTile(b"", "jpeg", 64, 64, 40, 64, "ycbcr", sparse=True)
    pixels = shown(native_tile_jpeg(tile))
    assert pixels.shape == (64, 40, 3) and pixels.min() >= 250


def test_truncated_tile_is_422_not_sent():
    stream = imagecodecs.jpeg8_encode(np.full((64, 64, 3), 120, np.uint8), 90)
    tile = EncodedTile(stream[:-40], "jpeg", 64, 64, 64, 64, "ycbcr")
    with pytest.raises(CorruptSlide):
        native_tile_jpeg(tile)
    with pytest.raises(CorruptSlide):
        native_tile_jpeg(replace(tile, valid_width=10))


@pytest.mark.parametrize("name, level, coords, mad", [
    # NDPI virtual tiles (restart intervals joined by formats) go out as built: exact.
    ("DAPI-fluorescence.ndpi", 1, [(0, 0), (0, 9)], 1),
    # Aperio: an inner tile passes (exact), the corner tile is transcoded (q90: 0.47 measured).
    ("CMU-1-Small-Region.svs", 0, [(5, 6), (9, 12)], 3),
])
def test_tiles_of_real_slides_through_formats(name, level, coords, mad):
    slide = real_slide(name)
    stored = slide.levels[level]
    their_level = openslide_level(slide_path(name), stored.width, stored.height)
    for (column, row), tile in zip(coords, slide.read_tiles(level, coords)):
        pixels = shown(native_tile_jpeg(tile, quality=90))
        assert pixels.shape == (tile.valid_height, tile.valid_width, 3)
        x = round(column * stored.tile_width * stored.downsample)
        y = round(row * stored.tile_height * stored.downsample)
        reference = openslide_region(slide_path(name), x, y, their_level, tile.valid_width,
                                     tile.valid_height)
        assert mean_abs_diff(pixels, reference) < mad
