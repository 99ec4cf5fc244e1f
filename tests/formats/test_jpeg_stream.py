"""JPEG streams at the marker level: tables spliced, frames resized, intervals joined."""

import imagecodecs
import numpy
import pytest

import synthetic
from wsi_blueprint.errors import CorruptSlide
from wsi_blueprint.formats.jpeg_stream import (EOI, SOI, entropy_data, frame_of,
                                               join_intervals, with_dimensions, with_tables)


@pytest.fixture(scope="module")
def pixels():
    rng = numpy.random.default_rng(7)
    base = rng.integers(0, 255, (3, 4, 3), dtype=numpy.uint8)
    return numpy.kron(base, numpy.ones((16, 16, 1), numpy.uint8))  # 48 x 64, smooth blocks


def _header(stream: bytes) -> bytes:
    """SOI through SOS of a complete stream."""
    segments, scan = synthetic.marker_segments(stream)
    return stream[:len(stream) - len(scan)]


def test_with_tables_makes_abbreviated_streams_decodable(pixels):
    streams = [synthetic.encode_jpeg(pixels, "ycbcr"), synthetic.encode_jpeg(pixels[::-1], "ycbcr")]
    tables, abbreviated = synthetic.split_tables(streams, aperio_ids=False)
    for full, short in zip(streams, abbreviated):
        assert b"\xff\xdb" not in _header(short)  # no quantisation table of its own
        spliced = with_tables(tables, short)
        assert spliced.startswith(SOI) and spliced.endswith(EOI)
        assert numpy.array_equal(imagecodecs.jpeg8_decode(spliced),
                                 imagecodecs.jpeg8_decode(full))


def test_with_tables_refuses_what_is_not_jpeg():
    with pytest.raises(CorruptSlide):
        with_tables(SOI + EOI, b"garbage")
    with pytest.raises(CorruptSlide):
        with_tables(b"garbage", SOI + EOI)


@pytest.mark.parametrize("photometric, mcu", [("ycbcr", (16, 16)), ("rgb", (8, 8))])
def test_frame_of_reads_size_and_mcu(pixels, photometric, mcu):
    frame = frame_of(_header(synthetic.encode_jpeg(pixels, photometric)))
    assert (frame.width, frame.height) == (64, 48)
    assert (frame.mcu_width, frame.mcu_height) == mcu
    assert frame.restart_interval == 0


def test_frame_of_reads_the_restart_interval(pixels):
    header = _header(synthetic.encode_jpeg(pixels, "ycbcr"))
    with_dri = SOI + b"\xff\xdd\x00\x04\x00\x05" + header[2:]
    assert frame_of(with_dri).restart_interval == 5


def test_with_dimensions_rewrites_the_frame(pixels):
    header = _header(synthetic.encode_jpeg(pixels, "ycbcr"))
    resized = with_dimensions(header, 32, 16)
    assert len(resized) == len(header)
    assert (frame_of(resized).width, frame_of(resized).height) == (32, 16)


def test_truncated_headers_are_corrupt(pixels):
    header = _header(synthetic.encode_jpeg(pixels, "ycbcr"))
    for cut in (1, 5, len(header) // 2):
        with pytest.raises(CorruptSlide):
            frame_of(header[:cut])


def test_entropy_data_drops_the_closing_marker():
    assert entropy_data(b"\x12\x34\xff\xd5") == b"\x12\x34"
    assert entropy_data(b"\x12\x34\xff\xd9") == b"\x12\x34"
    assert entropy_data(b"\x12\xff\x00") == b"\x12\xff\x00"  # a stuffed 0xFF is data


def test_join_intervals_numbers_restart_markers_afresh():
    # Intervals cut from the middle of a stream keep their old markers (RST3, RST4...).
    intervals = [bytes([n, n]) + bytes((0xFF, 0xD0 + (n + 3) % 8)) for n in range(10)]
    stream = join_intervals(b"HEADER", intervals)
    assert stream.startswith(b"HEADER") and stream.endswith(EOI)
    markers = [stream[i + 1] for i in range(len(stream) - 1)
               if stream[i] == 0xFF and 0xD0 <= stream[i + 1] <= 0xD7]
    assert markers == [0xD0 + n % 8 for n in range(9)]
    assert stream[6:8] == b"\x00\x00" and stream[-4:-2] == b"\x09\x09"
