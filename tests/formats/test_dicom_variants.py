"""Every offset-table layout, tiling and codec of DICOM WSI, written with pydicom and read back.

Lossless frames must decode to exactly the pixels written; JPEG frames to what libjpeg-turbo
makes of the stream written (and OpenSlide, where it reads the layout, must agree).
"""

import os

import imagecodecs
import numpy
import openslide
import pytest
import tifffile

from dicom_writer import write_instance
from helpers import make_settings, testdata_path
from wsi_blueprint.formats.dicom import frames
from wsi_blueprint.formats.index import SlideIndex
from wsi_blueprint.imaging.decode import decode
from wsi_blueprint.imaging.passthrough import native_tile_jpeg
from wsi_blueprint.state import WSIState

VARIANTS = [  # codec, offset table, fragments per frame
    ("jpeg", "basic", 1), ("jpeg", "extended", 1), ("jpeg", "none", 1), ("jpeg", "basic", 3),
    ("jpeg", "none", 3), ("jpeg2000", "basic", 1), ("jpeg2000", "none", 2), ("htj2k", "basic", 1),
    ("jpegls", "none", 1), ("rle", "basic", 1), ("native", "basic", 1),
    ("native-implicit", "basic", 1),
]
OPENSLIDE_READS = {("jpeg", "basic", 1), ("jpeg", "extended", 1), ("jpeg", "none", 1)}


@pytest.fixture(scope="module")
def source():
    pixels = tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)
    return numpy.ascontiguousarray(pixels[1000:1200, 800:1100])  # 300 x 200: edge frames


@pytest.fixture(scope="module")
def written(tmp_path_factory, source):
    folder = tmp_path_factory.mktemp("dicom-variants")
    out = {}
    for codec, offsets, fragments in VARIANTS:
        name = f"{codec}-{offsets}-{fragments}"
        os.makedirs(folder / name)
        out[(codec, offsets, fragments)] = write_instance(
            str(folder / name / "level0.dcm"), source, codec=codec, offsets=offsets,
            fragments=fragments)
    os.makedirs(folder / "sparse")
    out["sparse"] = write_instance(str(folder / "sparse" / "level0.dcm"), source,
                                   codec="jpeg", missing=frozenset({(1, 1), (4, 0)}))
    series = folder / "with-images"
    os.makedirs(series)
    out["with-images"] = {
        "volume": write_instance(str(series / "a.dcm"), source),
        "other-plane": write_instance(str(series / "b.dcm"), source[::-1].copy(),
                                      instance_number=2),
        "label": write_instance(str(series / "c.dcm"), source[:60, :90].copy(), tile=90,
                                role="LABEL", codec="native"),
        "thumbnail": write_instance(str(series / "d.dcm"), source[::4, ::4].copy(), tile=80,
                                    role="THUMBNAIL"),
    }
    return folder, out


@pytest.fixture(scope="module")
def library(written):
    return WSIState.build(make_settings(store=f"file://{written[0]}")).library


def _expected(written, key, codec):
    if codec == "jpeg":
        return imagecodecs.jpeg8_decode(written.frames[key])
    return written.tiles[key]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
def test_every_frame_reads_back_as_written(written, library, variant):
    folder, out = written
    codec = variant[0]
    slide = library.open("-".join(map(str, variant)))
    assert (slide.index.width, slide.index.height) == (300, 200)
    assert slide.tile_grid(0) == (5, 4)
    coords = [(c, r) for r in range(4) for c in range(5)]
    for (column, row), tile in zip(coords, slide.read_tiles(0, coords)):
        expected = _expected(out[variant], (column, row), codec)
        assert (tile.width, tile.height) == (64, 64)  # edge frames are stored full size
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])
    assert slide.index.mpp == pytest.approx((0.25, 0.25))
    assert slide.index.objective_power == 20
    how = {"basic": "basic", "extended": "extended", "none": "walk"}[variant[1]]
    assert slide.index.properties["dicom.level[0].frame-offsets"] == \
        ("native" if codec.startswith("native") else how)


@pytest.mark.parametrize("variant", sorted(OPENSLIDE_READS), ids=lambda v: "-".join(map(str, v)))
def test_openslide_reads_the_same_frames(written, library, variant):
    folder, out = written
    slide = library.open("-".join(map(str, variant)))
    reference = openslide.OpenSlide(out[variant].path)
    for tile in slide.read_tiles(0, [(0, 0), (2, 1), (4, 3)]):
        theirs = numpy.asarray(reference.read_region(
            (tile.x, tile.y), 0, (tile.valid_width, tile.valid_height)).convert("RGB"))
        assert numpy.array_equal(decode(tile), theirs)


def test_a_stored_jpeg_frame_passes_through_unchanged(written, library):
    folder, out = written
    tile = library.open("jpeg-basic-1").read_tiles(0, [(1, 1)])[0]
    assert native_tile_jpeg(tile) == out[("jpeg", "basic", 1)].frames[(1, 1)]


def test_a_sparse_level_fills_missing_frames_with_the_background(written, library):
    folder, out = written
    slide = library.open("sparse")
    assert set(slide.levels[0].present) == {r * 5 + c for c in range(5) for r in range(4)} - \
        {1 * 5 + 1, 0 * 5 + 4}
    coords = [(c, r) for r in range(4) for c in range(5)]
    for (column, row), tile in zip(coords, slide.read_tiles(0, coords)):
        pixels = decode(tile)
        if (column, row) in out["sparse"].missing:
            assert tile.sparse and (pixels == 255).all()
        else:
            expected = _expected(out["sparse"], (column, row), "jpeg")
            assert numpy.array_equal(pixels, expected[:tile.valid_height, :tile.valid_width])
    assert slide.tile_ranges(0, [(1, 1), (4, 0)]) == []  # nothing to read or prefetch


def test_patient_data_stays_out_of_the_properties(library):
    properties = library.open("jpeg-basic-1").index.properties
    assert properties["dicom.SeriesInstanceUID"] == "1.2.3.4.5"
    assert properties["dicom.DimensionOrganizationType"] == "TILED_FULL"
    assert not any("Patient" in key for key in properties)
    assert "Doe" not in " ".join(properties.values())


@pytest.mark.parametrize("variant", [("jpeg", "none", 3), ("jpeg2000", "none", 2),
                                     ("jpegls", "none", 1)], ids=lambda v: "-".join(map(str, v)))
def test_a_walk_in_small_chunks_past_the_cache_finds_the_same_frames(written, monkeypatch,
                                                                      variant):
    # Chunks of an odd size cut item headers in two: what a big pixel data does at 8 MiB.
    monkeypatch.setattr(frames, "WALK_CACHED", 0)
    monkeypatch.setattr(frames, "WALK_CHUNK", 517)
    monkeypatch.setattr(frames, "WALK_AHEAD", 3)
    folder, out = written
    slide = WSIState.build(make_settings(store=f"file://{folder}")).library.open(
        "-".join(map(str, variant)))
    coords = [(c, r) for r in range(4) for c in range(5)]
    for (column, row), tile in zip(coords, slide.read_tiles(0, coords)):
        expected = _expected(out[variant], (column, row), variant[0])
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])


def test_label_thumbnail_and_other_focal_planes(written, library):
    folder, out = written
    slide = library.open("with-images")
    assert len(slide.levels) == 1  # the second plane of the same size is not a level
    assert slide.index.properties["dicom.level[0].other-instances"] == "with-images/b.dcm"
    assert slide.associated_names == ["label", "thumbnail"]
    label = slide.read_associated("label")
    assert len(label) == 1 and (label[0].valid_width, label[0].valid_height) == (90, 60)
    assert numpy.array_equal(decode(label[0]), out["with-images"]["label"].tiles[(0, 0)][:60])
    thumbnail = slide.index.associated["thumbnail"]
    assert (thumbnail.width, thumbnail.height) == (75, 50)
    tile = slide.read_tiles(0, [(0, 0)])[0]
    assert numpy.array_equal(decode(tile), imagecodecs.jpeg8_decode(
        out["with-images"]["volume"].frames[(0, 0)]))


@pytest.mark.parametrize("offsets", ["basic", "extended"])
def test_big_offset_tables_stay_in_the_file_and_are_read_per_tile(tmp_path, offsets):
    pixels = numpy.ascontiguousarray(
        tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)[:1600, :1300])
    os.makedirs(tmp_path / "big")
    written = write_instance(str(tmp_path / "big" / "i.dcm"), pixels, tile=64,
                             offsets=offsets)  # 21 x 25 = 525 frames
    slide = WSIState.build(make_settings(store=f"file://{tmp_path}")).library.open("big")
    layout = slide.levels[0].layout
    assert layout.starts.count == 525 and layout.starts.values is None
    assert (layout.lengths is None) == (offsets == "basic")
    assert len(slide.table_ranges()) == (1 if offsets == "basic" else 2)
    coords = [(0, 0), (20, 24), (10, 3), (20, 0)]
    for coord, tile in zip(coords, slide.read_tiles(0, coords)):
        expected = imagecodecs.jpeg8_decode(written.frames[coord])
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])


def test_a_folder_of_other_files_is_refused_after_one_batch_of_headers(tmp_path):
    from wsi_blueprint.errors import UnsupportedFormat
    from wsi_blueprint.formats.dicom.series import HEADER_BATCH
    os.makedirs(tmp_path / "scans")
    for number in range(2 * HEADER_BATCH):
        (tmp_path / "scans" / f"{number:03}").write_bytes(b"\x01" * 300)
    state = WSIState.build(make_settings(store=f"file://{tmp_path}"))
    with pytest.raises(UnsupportedFormat, match="no DICOM whole-slide image"):
        state.library.open("scans")
    assert state.counters.get("store_requests") == HEADER_BATCH


def test_extended_lengths_that_count_item_headers_are_read_as_wsidicom_means_them(tmp_path,
                                                                                   source):
    import pydicom
    os.makedirs(tmp_path / "wsidicom")
    path = str(tmp_path / "wsidicom" / "i.dcm")
    written = write_instance(path, source, offsets="extended")
    ds = pydicom.dcmread(path)
    lengths = numpy.frombuffer(ds.ExtendedOffsetTableLengths, "<u8") + 8
    ds.ExtendedOffsetTableLengths = lengths.astype("<u8").tobytes()
    ds.save_as(path, enforce_file_format=True)
    slide = WSIState.build(make_settings(store=f"file://{tmp_path}")).library.open("wsidicom")
    coords = [(c, r) for r in range(4) for c in range(5)]
    for coord, tile in zip(coords, slide.read_tiles(0, coords)):
        expected = imagecodecs.jpeg8_decode(written.frames[coord])
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])


def test_edge_frames_stored_short_are_read_as_they_are(tmp_path, source):
    os.makedirs(tmp_path / "short")
    written = write_instance(str(tmp_path / "short" / "i.dcm"), source, short_edges=True)
    assert written.tiles[(4, 3)].shape[:2] == (200 - 3 * 64, 300 - 4 * 64)
    slide = WSIState.build(make_settings(store=f"file://{tmp_path}")).library.open("short")
    coords = [(c, r) for r in range(4) for c in range(5)]
    for coord, tile in zip(coords, slide.read_tiles(0, coords)):
        expected = imagecodecs.jpeg8_decode(written.frames[coord])
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])
        assert native_tile_jpeg(tile)  # served, re-encoded where the frame is short


@pytest.mark.parametrize("codec", ["jpeg", "native-implicit"])
def test_sparse_positions_from_the_raw_bytes_equal_pydicoms(tmp_path, source, codec):
    import pydicom
    from wsi_blueprint.formats.dicom import positions
    missing = frozenset({(0, 0), (3, 2)})
    written = write_instance(str(tmp_path / "i.dcm"), source, codec=codec, missing=missing)
    ds = pydicom.dcmread(written.path, stop_before_pixels=True)
    count = int(ds.NumberOfFrames)
    fast = positions._from_bytes(ds.get_item(positions.PER_FRAME).value, count,
                                 codec == "native-implicit")
    assert fast is not None and fast == positions._from_dataset(ds, count)
    assert {(x // 64, y // 64) for x, y, _ in fast} == set(written.tiles)


def test_the_barcode_is_kept_and_marked_as_patient_data(library):
    index = library.open("with-images").index
    assert index.properties["dicom.BarcodeValue"] == "S-42"
    assert index.phi_properties == ("dicom.BarcodeValue",)
    assert "dicom.PatientName" not in index.properties
    assert SlideIndex.from_bytes(index.to_bytes()).phi_properties == index.phi_properties
