"""DICOM series through the HTTP routes: DZI, IIIF, thumbnail and metadata against OpenSlide,
listing a series once, and bad DICOM answered with a clear JSON error."""

import io
import os
import shutil

import numpy as np
import openslide
import pydicom
import pytest
import tifffile
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from dicom_writer import write_instance
from helpers import testdata_path
from wsi_blueprint.app import create_app

SERIES = "cases/9/he"
MAX_MEAN_DIFF = 5.0  # as the DZI and thumbnail tests of TIFF slides: the resampling filter


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom-store")
    shutil.copy(testdata_path("camelyon-tiled-full.dcm"), folder / "camelyon.dcm")
    shutil.copytree(os.path.dirname(testdata_path("dicom/highdicom/sm_image.dcm")),
                    folder / "highdicom")
    source = tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)[800:1312, 600:1368]
    os.makedirs(folder / SERIES)
    level1 = np.asarray(Image.fromarray(source).reduce(2))  # a box filter, as scanners reduce
    for level, image in enumerate((source, level1)):
        write_instance(str(folder / SERIES / f"level{level}.dcm"), np.ascontiguousarray(image),
                       tile=128)
    (folder / SERIES / "notes.txt").write_text("scanned twice")
    return folder


@pytest.fixture(scope="module")
def client(folder):
    return create_app({"WSI_STORE": f"file://{folder}"}).test_client()


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


OPENED_BY = {SERIES: f"{SERIES}/level0.dcm", "camelyon.dcm": "camelyon.dcm",
             "highdicom/sm_image.dcm": "highdicom/sm_image.dcm"}


@pytest.mark.parametrize("slide_id", sorted(OPENED_BY))
def test_dzi_tiles_match_openslide(client, folder, slide_id):
    reference = DeepZoomGenerator(openslide.OpenSlide(str(folder / OPENED_BY[slide_id])),
                                  tile_size=254, overlap=1)
    assert client.get(f"/dzi/{slide_id}.dzi").status_code == 200
    for level in range(reference.level_count - 1, max(-1, reference.level_count - 5), -1):
        columns, rows = reference.level_tiles[level]
        for column, row in {(0, 0), (columns - 1, rows - 1), (columns // 2, rows // 2)}:
            ours = pixels(client.get(f"/dzi/{slide_id}_files/{level}/{column}_{row}.png"
                                     "?tile_size=254&overlap=1"))
            theirs = np.asarray(reference.get_tile(level, (column, row)).convert("RGB"), float)
            if theirs.shape != ours.shape:
                continue  # OpenSlide rounds some edge tiles a pixel short (see test_dzi)
            assert np.abs(ours - theirs).mean() < MAX_MEAN_DIFF, (level, column, row)


def test_iiif_region_and_thumbnail_match_openslide(client, folder):
    reference = openslide.OpenSlide(str(folder / OPENED_BY[SERIES]))
    ours = pixels(client.get(f"/iiif/3/{SERIES}/100,50,500,300/250,/0/default.png"))
    theirs = reference.read_region((100, 50), 0, (500, 300)).convert("RGB").resize(
        (250, 150), Image.LANCZOS)
    assert np.abs(ours - np.asarray(theirs, float)).mean() < MAX_MEAN_DIFF
    ours = pixels(client.get(f"/slides/{SERIES}/thumbnail?max_size=200&format=png"))
    theirs = np.asarray(reference.get_thumbnail((200, 200)).convert("RGB"), float)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < MAX_MEAN_DIFF


def test_a_stored_frame_is_served_as_stored(client, folder):
    ds = pydicom.dcmread(str(folder / SERIES / "level0.dcm"))
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=24))
    served = client.get(f"/tiles/{SERIES}/0/0/0.jpg")
    assert served.status_code == 200 and served.data == frame
    assert client.get(f"/iiif/3/{SERIES}/0,0,128,128/128,128/0/default.jpg").data == frame


def test_metadata_of_a_series_by_folder_and_by_instance(client):
    meta = client.get(f"/slides/{SERIES}").json
    assert (meta["format"], meta["vendor"], meta["width"], meta["height"]) == \
        ("dicom", "dicom", 768, 512)
    assert [level["downsample"] for level in meta["levels"]] == [1.0, 2.0]
    assert meta["mpp"] == pytest.approx([0.25, 0.25]) and meta["objective_power"] == 20
    assert meta["urls"]["dzi"].endswith(f"/dzi/{SERIES}.dzi")
    by_instance = client.get(f"/slides/{SERIES}/level1.dcm").json
    assert by_instance["levels"] == meta["levels"]


def test_the_listing_shows_a_series_once(client):
    listing = client.get("/slides?prefix=cases/9/he/").json["slides"]
    assert [(e["id"], e["kind"]) for e in listing] == [(SERIES, "slide"),
                                                       (f"{SERIES}/notes.txt", "other")]
    flat = [e["id"] for e in client.get("/slides?prefix=cases/").json["slides"]]
    assert flat == [SERIES, f"{SERIES}/notes.txt"]
    assert [e["id"] for e in client.get("/slides?prefix=highdicom/").json["slides"]] == \
        ["highdicom"]


def _truncate(path: str, fraction: float) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.truncate(int(size * fraction))


def _patch(path: str, old: bytes, new: bytes) -> None:
    data = open(path, "rb").read()
    assert data.count(old) == 1
    open(path, "wb").write(data.replace(old, new))


@pytest.fixture(scope="module")
def bad_client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-dicom")
    source = np.ascontiguousarray(
        tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)[:256, :256])

    def write(name, **options):
        os.makedirs(folder / name)
        return write_instance(str(folder / name / "i.dcm"), source, **options).path

    _truncate(write("truncated-walk", offsets="none"), 0.7)
    _truncate(write("truncated-bot"), 0.7)
    _truncate(write("truncated-header"), 0.01)
    path = write("bot-past-end")
    ds = pydicom.dcmread(path)
    table = next(pydicom.encaps.generate_fragments(ds.PixelData))  # the Basic Offset Table
    _patch(path, table, table[:-4] + (10 ** 8).to_bytes(4, "little"))
    write("missing-rows", drop=("Rows",))
    write("missing-photometric", drop=("PhotometricInterpretation",))
    write("ct", sop_class="1.2.840.10008.5.1.4.1.1.2")
    path = write("jpeg2000-part2")
    _patch(path, b"1.2.840.10008.1.2.4.50", b"1.2.840.10008.1.2.4.92")  # JPEG 2000 Part 2
    write("rle-fragments", codec="rle", offsets="none", fragments=2)
    path = write("sparse-huge-grid", missing=frozenset({(1, 1)}))
    ds = pydicom.dcmread(path)
    ds.TotalPixelMatrixRows = 2 ** 31 - 1  # a garbled size: a map of 4 x 33 554 432 tiles
    ds.save_as(path, enforce_file_format=True)
    os.makedirs(folder / "not-dicom")
    (folder / "not-dicom" / "x.dcm").write_bytes(b"\x00" * 200)
    return create_app({"WSI_STORE": f"file://{folder}"}).test_client()


@pytest.mark.parametrize("name,status,reason", [
    ("truncated-walk", 422, "truncated"),
    ("truncated-bot", 422, "Basic Offset Table points past the end"),
    ("truncated-header", 422, "no pixel data"),
    ("bot-past-end", 422, "Basic Offset Table points past the end"),
    ("missing-rows", 422, "lacks Rows"),
    ("missing-photometric", 422, "lacks PhotometricInterpretation"),
    ("ct", 415, "SOP class '1.2.840.10008.5.1.4.1.1.2'"),
    ("jpeg2000-part2", 415, "transfer syntax 1.2.840.10008.1.2.4.92"),
    ("rle-fragments", 422, "fragments do not make"),
    ("sparse-huge-grid", 415, "TILED_SPARSE grid of 4x33554432 tiles"),
    ("not-dicom", 415, "no DICOM whole-slide image"),
])
def test_bad_dicom_is_a_clear_json_error(bad_client, name, status, reason):
    for slide_id in (name, f"{name}/i.dcm" if name != "not-dicom" else f"{name}/x.dcm"):
        response = bad_client.get(f"/slides/{slide_id}")
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.json["status"] == status
        if slide_id == name:
            assert reason in response.json["message"]


def test_the_optical_paths_profile_is_served(client, folder):
    ds = pydicom.dcmread(str(folder / "highdicom" / "sm_image.dcm"), stop_before_pixels=True)
    meta = client.get("/slides/highdicom/sm_image.dcm").json
    assert meta["icc_profile"]["url"].endswith("/slides/highdicom/sm_image.dcm/icc")
    served = client.get("/slides/highdicom/sm_image.dcm/icc")
    assert served.status_code == 200
    assert served.data == bytes(ds.OpticalPathSequence[0].ICCProfile)
    assert client.get(f"/slides/{SERIES}/icc").status_code == 404  # none written


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A store of one instance whose label module has a barcode and a text."""
    folder = tmp_path_factory.mktemp("dicom-labelled")
    path = str(folder / "labelled.dcm")
    source = tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)[:128, :128]
    write_instance(path, np.ascontiguousarray(source))
    ds = pydicom.dcmread(path)
    ds.LabelText = "HE case 42"
    ds.save_as(path, enforce_file_format=True)
    return folder


@pytest.mark.parametrize("allowed", [False, True])
def test_the_barcode_is_shown_only_where_the_label_is(labelled, allowed):
    client = create_app({"WSI_STORE": f"file://{labelled}",
                         "WSI_SHOW_LABEL_AND_MACRO": allowed}).test_client()
    properties = client.get("/slides/labelled.dcm").json["properties"]
    assert properties["dicom.Modality"] == "SM"
    assert "dicom.PatientName" not in properties  # never, whatever the setting
    page = client.get("/view/labelled.dcm", headers={"Accept": "text/html"})
    assert page.status_code == 200
    if allowed:
        assert properties["dicom.BarcodeValue"] == "S-42"
        assert properties["dicom.LabelText"] == "HE case 42"
        assert "HE case 42" in page.get_data(as_text=True)
    else:
        assert not [key for key in properties if "Barcode" in key or "LabelText" in key]
        assert "S-42" not in page.get_data(as_text=True)
        assert "HE case 42" not in page.get_data(as_text=True)
