"""The DICOM series the tests write (dicom_series.py) are what they claim, and OpenSlide reads
them as the SVS they were written from."""

import struct

import numpy as np
import openslide
import pydicom
import pytest
import simplejpeg
import tifffile

from formats.dicom_series import LAYOUTS, basic_offset_table, jpeg_stream

CMU_SERIES = [f"cmu-{layout}" for layout in LAYOUTS]


def _level0(series):
    ds = pydicom.dcmread(series.levels[0].path)
    return ds, basic_offset_table(series.levels[0].path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_level0_has_its_layout(dicom_series, layout):
    series = dicom_series[f"cmu-{layout}"]
    ds, bot = _level0(series)
    columns, rows = series.levels[0].grid
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    if layout == "bot":
        offsets = struct.unpack(f"<{len(bot) // 4}I", bot)
        assert len(offsets) == ds.NumberOfFrames == columns * rows
        assert offsets[0] == 0 and list(offsets) == sorted(set(offsets))
    elif layout == "eot":
        assert bot == b""
        assert len(ds.ExtendedOffsetTable) == len(ds.ExtendedOffsetTableLengths) \
            == 8 * columns * rows
    elif layout == "empty":
        assert bot == b"" and "ExtendedOffsetTable" not in ds
    else:
        assert ds.DimensionOrganizationType == "TILED_SPARSE"
        assert len(series.missing) == 1
        assert ds.NumberOfFrames == len(ds.PerFrameFunctionalGroupsSequence) == columns * rows - 1
        stored = set(series.frames(0))
        assert stored.isdisjoint(series.missing)
        assert stored | series.missing == {(c, r) for c in range(columns) for r in range(rows)}
    if layout != "sparse":
        assert ds.DimensionOrganizationType == "TILED_FULL"


def _scan(jpeg: bytes) -> bytes:
    """From the start-of-scan marker on: the entropy-coded data and its header."""
    return jpeg[jpeg.index(b"\xff\xda"):]


@pytest.mark.parametrize("name", CMU_SERIES)
def test_level0_frames_are_the_svs_tiles_rewrapped(dicom_series, name):
    series = dicom_series[name]
    frames = series.frames(0)
    with tifffile.TiffFile(series.source) as tiff:
        page = tiff.pages[0]
        columns = -(-page.imagewidth // page.tilewidth)
        for index, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
            key = (index % columns, index // columns)
            if key in series.missing:
                assert key not in frames
                continue
            tiff.filehandle.seek(offset)
            tile = tiff.filehandle.read(count)
            assert _scan(jpeg_stream(frames[key])) == _scan(tile), key
            # The stored tile has no Adobe marker; the frame carries one saying RGB.
            assert b"\xff\xee" in frames[key][:frames[key].index(b"\xff\xda")]


@pytest.mark.parametrize("name", CMU_SERIES + ["small-bot"])
def test_openslide_reads_the_series_as_the_svs(dicom_series, name):
    """Every level-0 frame holds the SVS's scan (above); here OpenSlide places and decodes
    them: 3 x 3 frames around the middle (the sparse series' missing one) and at the
    bottom-right corner, edge frames cropped, the same pixels as from the SVS."""
    series = dicom_series[name]
    dicom = openslide.OpenSlide(series.any_instance())
    svs = openslide.OpenSlide(series.source)
    assert dicom.properties["openslide.vendor"] == "dicom"
    assert dicom.dimensions == svs.dimensions
    assert float(dicom.properties["openslide.mpp-x"]) == pytest.approx(
        float(svs.properties["openslide.mpp-x"]), rel=1e-3)
    assert dicom.level_dimensions == tuple(level.size for level in series.levels)
    (width, height), (columns, rows) = series.levels[0].tile, series.levels[0].grid
    for col, row in {(max(0, columns // 2 - 1), max(0, rows // 2 - 1)),
                     (max(0, columns - 3), max(0, rows - 3))}:
        x, y = col * width, row * height
        size = (min(3 * width, svs.dimensions[0] - x), min(3 * height, svs.dimensions[1] - y))
        ours = np.asarray(dicom.read_region((x, y), 0, size))
        theirs = np.asarray(svs.read_region((x, y), 0, size))
        gap = np.zeros(ours.shape[:2], bool)
        for c, r in series.missing:
            gap[max(0, r * height - y):max(0, (r + 1) * height - y),
                max(0, c * width - x):max(0, (c + 1) * width - x)] = True
        assert np.array_equal(ours[~gap], theirs[~gap]), (col, row)
        assert (ours[gap] == 0).all()  # OpenSlide leaves a missing frame transparent
    if series.missing:  # the block around the middle holds the missing frame
        assert (columns // 2, rows // 2) in series.missing


@pytest.mark.parametrize("name", CMU_SERIES + ["small-bot"])
def test_every_frame_is_full_size(dicom_series, name):
    """Edge frames too (wsidicom writes its own levels' short; the writer pads them)."""
    series = dicom_series[name]
    for number, level in enumerate(series.levels):
        for key, frame in series.frames(number).items():
            assert simplejpeg.decode_jpeg_header(frame)[:2] == level.tile[::-1], (number, key)
