"""RangeFile: file semantics over a BlockReader, and tifffile parsing through it."""

import io

import pytest
import tifffile

from helpers import testdata_path
from slide_access import block_reader
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats.rangefile import RangeFile


@pytest.fixture
def sample(tmp_path):
    data = bytes(range(256)) * 40  # 10 240 bytes, over several 4 KiB blocks
    (tmp_path / "sample.bin").write_bytes(data)
    counters = Counters()
    return data, RangeFile(block_reader(f"file://{tmp_path}", "sample.bin", counters,
                                        block_size="4K")), counters


def test_reads_seeks_and_tells_like_a_file(sample):
    data, fh, _ = sample
    assert fh.readable() and fh.seekable() and fh.size == len(data)
    assert fh.read(10) == data[:10] and fh.tell() == 10
    fh.seek(4090)
    assert fh.read(20) == data[4090:4110]  # across a block boundary
    assert fh.seek(-5, io.SEEK_END) == len(data) - 5
    assert fh.read(100) == data[-5:]  # short read at the end
    assert fh.read(1) == b"" and fh.tell() == len(data)
    fh.seek(len(data) + 10)
    assert fh.read(4) == b"" and fh.tell() == len(data) + 10
    fh.seek(100)
    fh.seek(50, io.SEEK_CUR)
    assert fh.read() == data[150:]


def test_readinto_fills_a_buffer(sample):
    data, fh, _ = sample
    buffer = bytearray(8)
    fh.seek(len(data) - 3)
    assert fh.readinto(buffer) == 3 and buffer[:3] == data[-3:]


def test_negative_seek_is_refused(sample):
    _, fh, _ = sample
    with pytest.raises(ValueError):
        fh.seek(-1)


def test_small_reads_are_served_from_cached_blocks(sample):
    data, fh, counters = sample
    for offset in range(0, 4000, 7):
        fh.seek(offset)
        fh.read(3)
    assert counters.get("store_requests") == 1


def test_tifffile_parses_a_slide_through_it():
    name = "CMU-1-Small-Region.svs"
    folder = "file://" + testdata_path(name).rsplit("/", 1)[0]
    counters = Counters()
    with tifffile.TiffFile(RangeFile(block_reader(folder, name, counters))) as tiff:
        assert len(tiff.pages) == 4
        assert tiff.pages.first.shape == (2967, 2220, 3)
    assert 0 < counters.get("store_requests") <= 6
