"""The benchmark's DICOM pieces on small sizes: the writers (read back by OpenSlide and
pydicom) and the DICOM case end to end over the simulated S3."""

import os
import shutil
import struct

import numpy as np
import openslide
import pydicom
import pytest
import simplejpeg
from pydicom.encaps import generate_frames

from wsi_blueprint.bench import dicom_case
from wsi_blueprint.bench.dicomgen import (OFFSET_TABLES, ensure_frames_level, ensure_series,
                                          frame_of, level_frames, write_frames_level)

COLUMNS, ROWS = 23, 17  # odd sizes: frames of every distinct length at odd and even places


@pytest.mark.parametrize("offset_table", OFFSET_TABLES)
def test_frames_level_reads_back_frame_for_frame(tmp_path, offset_table):
    path = str(tmp_path / "level.dcm")
    write_frames_level(path, COLUMNS, ROWS, offset_table)
    jpegs = level_frames()
    assert len(set(jpegs)) == len(jpegs) > 1
    ds = pydicom.dcmread(path)
    count = COLUMNS * ROWS
    assert (ds.NumberOfFrames, ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) \
        == (count, COLUMNS * 16, ROWS * 16)
    bot_length = struct.unpack("<I", ds.PixelData[4:8])[0]
    assert bot_length == (4 * count if offset_table == "bot" else 0)
    assert ("ExtendedOffsetTable" in ds) == (offset_table == "eot")
    eot = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths) if "ExtendedOffsetTable" in ds \
        else None
    stored = list(generate_frames(ds.PixelData, number_of_frames=count, extended_offsets=eot))
    assert stored == [frame_of(jpegs, i) for i in range(count)]
    if eot:
        lengths = struct.unpack(f"<{count}Q", ds.ExtendedOffsetTableLengths)
        assert list(lengths) == [len(frame_of(jpegs, i)) for i in range(count)]
    # OpenSlide, the reference decoder, places every frame where TILED_FULL says.
    slide = openslide.OpenSlide(path)
    assert slide.properties["openslide.vendor"] == "dicom"
    assert slide.dimensions == (COLUMNS * 16, ROWS * 16)
    for index in (0, COLUMNS + 1, count - 1):
        col, row = index % COLUMNS, index // COLUMNS
        theirs = np.asarray(slide.read_region((col * 16, row * 16), 0, (16, 16)).convert("RGB"))
        assert np.array_equal(theirs, simplejpeg.decode_jpeg(frame_of(jpegs, index)))


def test_frames_levels_are_cached(tmp_path):
    first = ensure_frames_level(str(tmp_path), 5, 4, "empty")
    stamp = os.stat(first).st_mtime_ns
    assert ensure_frames_level(str(tmp_path), 5, 4, "empty") == first
    assert os.stat(first).st_mtime_ns == stamp
    assert ensure_frames_level(str(tmp_path), 5, 4, "eot") != first


@pytest.fixture(scope="module")
def generated_series(small_slides, tmp_path_factory):
    """The first small generated slide (4000 x 3000, levels 1 and 1/4) and its series."""
    folder = tmp_path_factory.mktemp("bench-dicom")
    svs = str(folder / "A1.svs")
    shutil.copy(small_slides[0].path, svs)
    return svs, ensure_series(svs, log=lambda *a: None)


def test_series_of_a_generated_slide_is_the_slide(generated_series):
    svs, folder = generated_series
    assert ensure_series(svs, log=lambda *a: pytest.fail("written twice")) == folder
    dicom = openslide.OpenSlide(os.path.join(folder, min(os.listdir(folder))))
    theirs = openslide.OpenSlide(svs)
    assert dicom.properties["openslide.vendor"] == "dicom"
    assert dicom.level_dimensions == theirs.level_dimensions
    for level in range(theirs.level_count):
        size = theirs.level_dimensions[level]
        assert np.array_equal(np.asarray(dicom.read_region((0, 0), level, size)),
                              np.asarray(theirs.read_region((0, 0), level, size))), level


def test_dicom_case_end_to_end(generated_series, tmp_path):
    """Needs the DICOM reader (the dicom branch): series and levels open from the simulated
    S3, frames are served as stored, a second worker finds the parsed series in memcached."""
    svs, _ = generated_series
    case = dicom_case.run(svs, str(tmp_path), latency_ms=5, bandwidth_mbps=0,
                          frames_grid=(30, 20), log=lambda *a: None)
    svs_row, dicom_row = case["comparison"]
    assert (svs_row["format"], dicom_row["format"]) == ("svs", "dicom")
    for row in case["comparison"]:
        assert row["open"]["requests"] > 0 and row["open"]["bytes"] > 0
        assert row["second_worker"]["requests"] < row["open"]["requests"]
        assert row["tiles"]["stored"]["tiles"] == 32 and row["tiles"]["derived"]["tiles"] == 16
    assert [r["offset_table"] for r in case["frames"]] == ["empty", "eot"]
    for row in case["frames"]:
        assert row["frames"] == 600
        assert row["last_frame"]["status"] == 200 and row["last_frame"]["as_stored"]
        assert row["second_worker"]["bytes"] < row["cold"]["bytes"]
    text = "\n".join(dicom_case.to_markdown(case))
    assert "| dicom |" in text and "| frames-empty | empty BOT (item walk) | 600 |" in text
