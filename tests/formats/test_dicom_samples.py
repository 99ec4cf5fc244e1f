"""The real DICOM samples, from a folder store and from S3, checked against OpenSlide.

OpenSlide opens any instance of a series and reads the whole folder; stored frames must match
it exactly. It refuses JPEG-LS and 16-bit samples: those are compared with the frames pydicom
finds, decoded with imagecodecs. libvips labels its JFIF (YCbCr) frames RGB; OpenSlide 4.0.1
believes the label and returns the YCbCr samples as they are (false colours), where we follow
the stream: its answer converted from YCbCr must equal ours, and ours must match the SVS the
series was made from.
"""

import os
import time
import warnings

import imagecodecs
import numpy
import openslide
import pydicom
import pytest
from pydicom.encaps import generate_frames

import dicom_writer
from dicom_writer import write_instance
from helpers import make_settings, testdata_path
from tile_decoder import ycbcr_to_rgb
from wsi_blueprint.errors import ObjectChanged, SlideNotFound, UnsupportedFormat
from wsi_blueprint.imaging.decode import decode
from wsi_blueprint.state import WSIState

SERIES = "dicom/cmu-1-small-region-vips"
LEVEL0 = "level-0-frames-0-30.dcm"
# slide id -> a path OpenSlide opens it by
OPENSLIDE_SAMPLES = {
    SERIES: f"{SERIES}/{LEVEL0}",
    "camelyon-tiled-full.dcm": "camelyon-tiled-full.dcm",
    "dicom/highdicom/sm_image.dcm": "dicom/highdicom/sm_image.dcm",
}
OWN_DECODE_SAMPLES = ["dicom/highdicom/sm_image_jpegls.dcm",
                      "dicom/highdicom/sm_image_jpegls_nobot.dcm",
                      "dicom/highdicom/sm_image_grayscale.dcm"]
# As in test_real_slides: exact where the level position is a whole number of level-0 pixels;
# where a downsample is not a whole number (2.0003) OpenSlide blends at a fractional position.
EXACT_MAD = 1.0
RESAMPLED_MAD = 8.0
# Series whose JFIF frames OpenSlide returns unconverted (see above).
OPENSLIDE_UNCONVERTED = {SERIES}
# JPEG re-encoding by libvips against the source SVS: 2.2 measured on tissue.
REENCODED_MAD = 4.0


def _files() -> list[str]:
    root = os.path.dirname(testdata_path("camelyon-tiled-full.dcm"))
    names = ["camelyon-tiled-full.dcm"]
    for folder in ("dicom/cmu-1-small-region-vips", "dicom/highdicom"):
        names += [f"{folder}/{name}" for name in sorted(os.listdir(os.path.join(root, folder)))]
    return names


@pytest.fixture(scope="module")
def s3_samples(s3_server):
    bucket = s3_server.new_bucket()
    for name in _files():
        with open(testdata_path(name), "rb") as file:
            s3_server.put(bucket, name, file.read())
    return bucket


@pytest.fixture(params=["folder", "s3"])
def library(request):
    if request.param == "folder":
        folder = os.path.dirname(testdata_path("camelyon-tiled-full.dcm"))
        settings = make_settings(store=f"file://{folder}")
    else:
        bucket = request.getfixturevalue("s3_samples")
        server = request.getfixturevalue("s3_server")
        settings = make_settings(store=f"s3://{bucket}", s3_endpoint_url=server.endpoint)
    return WSIState.build(settings).library


def _mad(a: numpy.ndarray, b: numpy.ndarray) -> float:
    assert a.shape == b.shape
    return float(numpy.abs(a.astype(numpy.int16) - b.astype(numpy.int16)).mean())


@pytest.mark.parametrize("slide_id", sorted(OPENSLIDE_SAMPLES))
def test_geometry_and_resolution_match_openslide(library, slide_id):
    index = library.open(slide_id).index
    reference = openslide.OpenSlide(testdata_path(OPENSLIDE_SAMPLES[slide_id]))
    assert index.format == reference.properties["openslide.vendor"] == "dicom"
    assert [(level.width, level.height) for level in index.levels] == \
        list(reference.level_dimensions)
    assert [level.downsample for level in index.levels] == \
        pytest.approx(list(reference.level_downsamples), rel=1e-3)
    assert index.mpp == pytest.approx((float(reference.properties["openslide.mpp-x"]),
                                       float(reference.properties["openslide.mpp-y"])))
    assert index.properties["dicom.Modality"] == "SM"
    assert index.properties["openslide.vendor"] == "dicom"


@pytest.mark.parametrize("slide_id", sorted(OPENSLIDE_SAMPLES))
def test_every_stored_frame_equals_openslide(library, slide_id):
    slide = library.open(slide_id)
    reference = openslide.OpenSlide(testdata_path(OPENSLIDE_SAMPLES[slide_id]))
    for level, image in enumerate(slide.levels):
        columns, rows = slide.tile_grid(level)
        coords = [(c, r) for r in range(rows) for c in range(columns)]
        for tile in slide.read_tiles(level, coords):
            ours = decode(tile)
            downsample = reference.level_downsamples[level]
            location = (round(tile.x * downsample), round(tile.y * downsample))
            theirs = numpy.asarray(reference.read_region(
                location, level, (tile.valid_width, tile.valid_height)).convert("RGB"))
            if slide_id in OPENSLIDE_UNCONVERTED:
                theirs = ycbcr_to_rgb(theirs)
            exact = all(p / downsample == int(p / downsample) for p in location)
            assert _mad(ours, theirs) <= (EXACT_MAD if exact else RESAMPLED_MAD), \
                (slide_id, level, tile.x, tile.y)


def test_the_libvips_series_shows_the_colours_of_the_svs_it_was_made_from(library):
    slide = library.open(SERIES)
    source = openslide.OpenSlide(testdata_path("CMU-1-Small-Region.svs"))
    for tile in slide.read_tiles(0, [(0, 0), (1, 1), (4, 5)]):
        theirs = numpy.asarray(source.read_region(
            (tile.x, tile.y), 0, (tile.valid_width, tile.valid_height)).convert("RGB"))
        assert _mad(decode(tile), theirs) <= REENCODED_MAD


def _reference_frames(path: str) -> tuple[pydicom.Dataset, list[numpy.ndarray]]:
    """Each frame of an instance as pixels, by pydicom and imagecodecs, not by our reader."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    count = int(ds.NumberOfFrames)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return ds, [imagecodecs.jpegls_decode(frame)
                    for frame in generate_frames(ds.PixelData, number_of_frames=count)]
    return ds, list(ds.pixel_array)


@pytest.mark.parametrize("slide_id", OWN_DECODE_SAMPLES)
def test_frames_openslide_refuses_equal_their_own_decode(library, slide_id):
    ds, frames = _reference_frames(testdata_path(slide_id))
    slide = library.open(slide_id)
    assert (slide.index.width, slide.index.height) == (ds.TotalPixelMatrixColumns,
                                                       ds.TotalPixelMatrixRows)
    columns, rows = slide.tile_grid(0)
    coords = [(c, r) for r in range(rows) for c in range(columns)]
    for (column, row), tile in zip(coords, slide.read_tiles(0, coords)):
        expected = frames[row * columns + column]
        if expected.dtype == numpy.uint16:  # the imaging layer keeps the top 8 bits
            expected = (expected >> 8).astype(numpy.uint8)
        if expected.ndim == 2:
            expected = numpy.repeat(expected[:, :, None], 3, axis=2)
        assert numpy.array_equal(decode(tile), expected[:tile.valid_height, :tile.valid_width])


def test_a_series_opens_by_its_folder_or_any_instance(library):
    by_folder = library.open(SERIES).index
    by_instance = library.open(f"{SERIES}/level-7-frames-0-1.dcm").index
    assert by_folder == by_instance
    assert len(by_folder.levels) == 12 and len(by_folder.files) == 12
    assert by_folder.part == ""  # the folder's only series


def test_each_series_of_a_folder_opens_by_its_suffix(library):
    folder = "dicom/highdicom"
    first = library.open(folder).index
    ids = first.properties["dicom.series-in-folder"].split()
    assert len(ids) == 4 and all(i.startswith(folder + "@") for i in ids)
    assert first.part == ids[0][len(folder):]
    kinds = set()
    for series_id in ids:
        index = library.open(series_id).index
        assert index.part == series_id[len(folder):]
        kinds.add((index.levels[0].encoding.compression, index.levels[0].encoding.photometric))
    assert kinds == {("none", "rgb"), ("none", "minisblack"), ("jpegls", "rgb")}
    with pytest.raises(SlideNotFound):
        library.open(folder + "@1.2.3")


def test_opening_the_12_instance_series_from_s3_reads_each_header_once(s3_server, s3_samples):
    settings = make_settings(store=f"s3://{s3_samples}", s3_endpoint_url=s3_server.endpoint)
    state = WSIState.build(settings)
    slide = state.library.open(SERIES)
    counters = state.counters
    # The folder's id names no object (one probe answered 404), one listing, and one ranged
    # read per instance: instances are opened at the listing's size, so their first read is
    # the parse's own (header, offset table, and here every frame: the two instances without
    # an offset table have their items walked in that same read).
    assert counters.get("store_requests", kind="list") == 1
    assert counters.get("store_requests") == 1 + 1 + 12
    size = sum(os.path.getsize(testdata_path(f"{SERIES}/{name}"))
               for name in os.listdir(os.path.dirname(testdata_path(f"{SERIES}/{LEVEL0}"))))
    assert counters.get("store_bytes") <= size + 256 * 1024  # the 404 probe's error body
    requests = counters.get("store_requests")
    slide.read_tiles(0, [(1, 1)])
    slide.read_tiles(11, [(0, 0)])
    assert counters.get("store_requests") == requests  # frames came with the headers
    assert state.library.open(f"{SERIES}/{LEVEL0}").index == slide.index


def test_the_optical_paths_icc_profile_is_the_slides(library):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(testdata_path("dicom/highdicom/sm_image.dcm"),
                             stop_before_pixels=True)
    profile = bytes(ds.OpticalPathSequence[0].ICCProfile)
    assert len(profile) > 128
    slide = library.open("dicom/highdicom/sm_image.dcm")
    located = slide.index.icc_profile
    assert (located.length, located.member, located.color_space) == (len(profile), "", "RGB")
    assert slide.read_profile(located) == profile  # read by Range from the instance
    assert library.open(SERIES).index.icc_profile is None  # libvips wrote none


def test_a_store_that_cannot_list_opens_an_instance_as_its_own_series():
    from helpers import RangeFileServer
    root = os.path.dirname(testdata_path("camelyon-tiled-full.dcm"))
    server = RangeFileServer(root)
    try:
        library = WSIState.build(make_settings(store=server.url)).library
        index = library.open(f"{SERIES}/{LEVEL0}").index
        assert index.files == (f"{SERIES}/{LEVEL0}",) and len(index.levels) == 1
        with pytest.raises(SlideNotFound):
            library.open(SERIES)  # a folder is found only by listing it
    finally:
        server.stop()


def test_a_replaced_instance_opens_a_new_version_of_the_series(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    pixels = numpy.zeros((1024, 1024, 3), numpy.uint8)  # 3 MB: more than opening reads
    for name, value in (("a", 40), ("b", 200)):
        write_instance(str(tmp_path / name), pixels + value, codec="native", tile=128)
    s3_server.put(bucket, "s/level0.dcm", (tmp_path / "a").read_bytes())
    settings = make_settings(store=f"s3://{bucket}", s3_endpoint_url=s3_server.endpoint,
                             block_size="64K")
    library = WSIState.build(settings).library
    slide = library.open("s")
    assert decode(slide.read_tiles(0, [(0, 0)])[0])[0, 0, 0] == 40
    write_instance(str(tmp_path / "b"), pixels + 200, codec="native", tile=128,
                   series="1.2.3.4.5")
    s3_server.put(bucket, "s/level0.dcm", (tmp_path / "b").read_bytes())
    with pytest.raises(ObjectChanged):
        slide.read_tiles(0, [(7, 7)])  # not cached: meets the new version of its instance
    assert decode(library.reopen("s").read_tiles(0, [(7, 7)])[0])[0, 0, 0] == 200


def test_an_instance_replaced_since_the_listing_a_worker_trusts_is_not_read_as_it(
        s3_server, tmp_path, memcached, monkeypatch):
    """Another worker's listing is trusted for a while: a member replaced since (same size,
    so only its modification time tells) must meet its reader as a changed object."""
    bucket = s3_server.new_bucket()
    pixels = numpy.zeros((1024, 1024, 3), numpy.uint8)
    monkeypatch.setattr(dicom_writer, "generate_uid", lambda: "1.2.3.4.5.6")  # one size
    for name, value in (("a", 40), ("b", 200)):
        write_instance(str(tmp_path / name), pixels + value, codec="native", tile=128)
    assert (tmp_path / "a").stat().st_size == (tmp_path / "b").stat().st_size
    s3_server.put(bucket, "s/level0.dcm", (tmp_path / "a").read_bytes())
    settings = make_settings(store=f"s3://{bucket}", s3_endpoint_url=s3_server.endpoint,
                             memcached=memcached.address, block_size="64K")
    WSIState.build(settings).library.open("s")  # listed and parsed; tile (7, 7) not read
    time.sleep(2.1)  # past the second's slack the listing's time is given
    s3_server.put(bucket, "s/level0.dcm", (tmp_path / "b").read_bytes())
    second = WSIState.build(settings)
    slide = second.library.open("s")  # the first worker's listing, no request of its own
    assert second.counters.get("store_requests") == 0
    with pytest.raises(ObjectChanged):
        slide.read_tiles(0, [(7, 7)])  # its instance's first read: modified since the listing
    assert decode(second.library.reopen("s").read_tiles(0, [(7, 7)])[0])[0, 0, 0] == 200


def test_a_second_worker_takes_the_series_from_memcached(s3_server, s3_samples, memcached):
    settings = make_settings(store=f"s3://{s3_samples}", s3_endpoint_url=s3_server.endpoint,
                             memcached=memcached.address)
    first = WSIState.build(settings).library.open(SERIES)
    second = WSIState.build(settings)
    slide = second.library.open(SERIES)
    assert slide.index == first.index
    assert second.counters.get("slide_parses") == 0
    # Not even the folder's listing (the series' version): the first worker's is shared.
    assert second.counters.get("store_requests") == 0
    slide.read_tiles(0, [(4, 5)])  # its blocks came through memcached too
    assert second.counters.get("store_requests") == 0
    second.library.revalidate_after = 0.0  # a listing seen too long ago is listed again
    second.library.forget(SERIES)
    assert second.library.open(SERIES).index == first.index
    assert second.counters.get("store_requests", kind="list") == 1


def test_every_id_of_a_series_finds_the_index_one_parse_made(s3_server, s3_samples, memcached):
    settings = make_settings(store=f"s3://{s3_samples}", s3_endpoint_url=s3_server.endpoint,
                             memcached=memcached.address)
    state = WSIState.build(settings)
    library, counters = state.library, state.counters
    instances = sorted(os.listdir(os.path.dirname(testdata_path(f"{SERIES}/{LEVEL0}"))))
    first = library.open(f"{SERIES}/{instances[3]}").index
    assert counters.get("slide_parses") == 1
    uid = first.properties["dicom.series-instance-uid"]
    for other in [SERIES, f"{SERIES}@{uid}"] + [f"{SERIES}/{name}" for name in instances]:
        assert library.open(other).index == first
    assert counters.get("slide_parses") == 1
    # A folder of several series: one parse per series, whichever of its ids comes first.
    folder = "dicom/highdicom"
    default = library.open(folder).index  # the first series by UID
    assert counters.get("slide_parses") == 2
    assert library.open(folder + default.part).index == default
    assert counters.get("slide_parses") == 2
    parts = {name: default.aliases[f"{folder}/{name}"] for name in
             sorted(os.listdir(os.path.dirname(testdata_path(f"{folder}/sm_image.dcm"))))}
    assert len(set(parts.values())) == 4  # each instance a series of its own here
    for name, part in parts.items():
        parses = counters.get("slide_parses")
        by_instance = library.open(f"{folder}/{name}").index
        assert by_instance.part == part
        assert library.open(folder + part).index == by_instance
        assert counters.get("slide_parses") == parses + (part != default.part)
    # another worker sharing memcached parses none of them
    second = WSIState.build(settings)
    for name, part in parts.items():
        assert second.library.open(f"{folder}/{name}").index.part == part
    assert second.library.open(f"{SERIES}/{instances[0]}").index == first
    assert second.counters.get("slide_parses") == 0


def test_an_instance_of_another_kind_beside_a_series_is_still_refused(tmp_path):
    source = numpy.zeros((128, 128, 3), numpy.uint8)
    os.makedirs(tmp_path / "s")
    write_instance(str(tmp_path / "s" / "a.dcm"), source, codec="native", tile=128)
    write_instance(str(tmp_path / "s" / "ct.dcm"), source, codec="native", tile=128,
                   sop_class="1.2.840.10008.5.1.4.1.1.2")
    state = WSIState.build(make_settings(store=f"file://{tmp_path}"))
    assert state.library.open("s").index.aliases == {"": "", "@1.2.3.4.5": "", "s/a.dcm": ""}
    with pytest.raises(UnsupportedFormat, match="SOP class"):
        state.library.open("s/ct.dcm")
