import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from helpers import testdata_path as slide_path
from imaging.support import mean_abs_diff, openslide_region, tile_at
from wsi_blueprint.errors import CorruptSlide
from wsi_blueprint.imaging.jpeg_markers import (ADOBE_RGB, frame, header_segments, is_complete,
                                                with_rgb_marker)

JFIF = bytes.fromhex("ffe000104a46494600010100000100010000")


def pillow(stream: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(stream)).convert("RGB"))


def aperio_like(rgb: np.ndarray) -> bytes:
    """An RGB JPEG as Aperio writes it: no APP14 marker, component ids 0, 1, 2."""
    stream = imagecodecs.jpeg8_encode(rgb, 95, colorspace="RGB", outcolorspace="RGB")
    out, pos = bytearray(stream[:2]), 2
    for seg in header_segments(stream):
        out += stream[pos:seg.start]
        part = bytearray(stream[seg.start:seg.end])
        if seg.marker == 0xEE:
            part = bytearray()
        elif seg.marker == 0xC0:
            part[10], part[13], part[16] = 0, 1, 2
        elif seg.marker == 0xDA:  # the scan names the components by id too
            part[5], part[7], part[9] = 0, 1, 2
        out += part
        pos = seg.end
    return bytes(out + stream[pos:])


@pytest.fixture
def colours():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:32] = (200, 40, 120)
    rgb[32:] = (30, 160, 90)
    return rgb


def test_rgb_stream_without_marker_is_misread_until_the_marker_is_added(colours):
    stream = aperio_like(colours)
    assert mean_abs_diff(pillow(stream), colours) > 30
    fixed = with_rgb_marker(stream)
    assert fixed.startswith(b"\xff\xd8" + ADOBE_RGB)
    assert mean_abs_diff(pillow(fixed), colours) < 2
    assert with_rgb_marker(fixed) is fixed


def test_a_jfif_marker_is_dropped_because_it_overrides_adobe_in_libjpeg(colours):
    stream = b"\xff\xd8" + JFIF + aperio_like(colours)[2:]
    assert mean_abs_diff(pillow(b"\xff\xd8" + JFIF + ADOBE_RGB + stream[20:]), colours) > 30
    fixed = with_rgb_marker(stream)
    assert JFIF not in fixed and fixed.count(b"Adobe") == 1
    assert mean_abs_diff(pillow(fixed), colours) < 2


def test_an_adobe_marker_saying_ycbcr_is_replaced_past_fill_bytes(colours):
    says_ycbcr = ADOBE_RGB[:-1] + b"\x01"  # transform 1: YCbCr
    stream = b"\xff\xd8" + says_ycbcr + b"\xff\xff" + aperio_like(colours)[2:]
    assert [seg.marker for seg in header_segments(stream)][:2] == [0xEE, 0xDB]
    fixed = with_rgb_marker(stream)
    assert fixed.startswith(b"\xff\xd8" + ADOBE_RGB) and fixed.count(b"Adobe") == 1
    assert mean_abs_diff(pillow(fixed), colours) < 2


def test_aperio_rgb_tile_shows_openslides_colours_once_marked():
    path = slide_path("CMU-1-Small-Region.svs")
    tile = tile_at(path, 40)  # 10 columns of 240 px: column 0, row 4
    assert tile.photometric == "rgb"
    reference = openslide_region(path, 0, 4 * 240, 0, 240, 240)
    before = mean_abs_diff(pillow(tile.data), reference)
    after = mean_abs_diff(pillow(with_rgb_marker(tile.data)), reference)
    assert before > 20
    assert after < 3


def test_frame_header_tells_what_browsers_can_show():
    plain = frame(imagecodecs.jpeg8_encode(np.zeros((48, 80, 3), np.uint8), 90))
    assert (plain.width, plain.height, plain.components, plain.precision) == (80, 48, 3, 8)
    assert plain.browser_safe
    lossless = imagecodecs.jpeg8_encode(np.zeros((8, 8, 3), np.uint8), lossless=True)
    assert not frame(lossless).browser_safe
    twelve = imagecodecs.jpeg8_encode(np.zeros((8, 8), np.uint16), 90, bitspersample=12)
    assert frame(twelve).precision == 12 and not frame(twelve).browser_safe


def test_truncation_and_garbage_are_detected():
    stream = imagecodecs.jpeg8_encode(np.full((64, 64, 3), 99, np.uint8), 90)
    assert is_complete(stream) and is_complete(stream + b"\0" * 8)
    assert not is_complete(stream[:-10])
    for broken in (b"", b"GIF89a", stream[:40], b"\xff\xd8\xff\xdb\x10\x00"):
        with pytest.raises(CorruptSlide):
            with_rgb_marker(broken)
