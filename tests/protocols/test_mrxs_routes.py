"""An MRXS slide (X.mrxs plus X/) through the app, from a folder and from S3: DZI tiles, IIIF
regions, thumbnails and associated images against OpenSlide's reading of the same files; the
listing shows the slide once; broken slides answer 415/422 JSON with the reason."""

import concurrent.futures
import io
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import openslide
import pytest
import requests
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from formats.mrxs_slides import FILL_RGB, upload
from live_server import LiveServer
from wsi_blueprint.app import create_app
from wsi_blueprint.protocols.dzi import DeepZoom

# Mean absolute difference per channel (0-255). Stored levels match exactly; DZI levels
# between them differ by the resampling filter (ours: box and DCT scaling, OpenSlide's:
# Lanczos), as for every format (tests/protocols/test_dzi.py).
MAX_MEAN_DIFF = 5.0
SLIDE = "synthetic.mrxs"


def _folder(mrxs_set) -> str:
    return os.path.dirname(mrxs_set[SLIDE].path)


@pytest.fixture(scope="module")
def s3_store(mrxs_set, s3_server):
    bucket = s3_server.new_bucket()
    folder = _folder(mrxs_set)
    upload(s3_server, bucket, folder, "lab/")
    return {"WSI_STORE": f"s3://{bucket}/lab", "WSI_S3_ENDPOINT_URL": s3_server.endpoint}


@pytest.fixture(params=["folder", "s3"])
def client(request, mrxs_set):
    config = ({"WSI_STORE": f"file://{_folder(mrxs_set)}"} if request.param == "folder"
              else request.getfixturevalue("s3_store"))
    return create_app(config).test_client()


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


def on_fill(image: Image.Image) -> np.ndarray:
    canvas = Image.new("RGBA", image.size, FILL_RGB + (255,))
    return np.asarray(Image.alpha_composite(canvas, image.convert("RGBA")).convert("RGB"),
                      float)


def openslide_tile(reference: openslide.OpenSlide, dz: DeepZoom, level: int, col: int,
                   row: int) -> np.ndarray:
    """What OpenSlide reads for a DZI tile: its rectangle from the best level, resized to the
    tile's size with Lanczos as DeepZoomGenerator does. (Its own tiles are a pixel short at
    some edges, and on this detailed tissue a pixel's stretch is no measure of anything.)"""
    x, y, width, height = dz.tile_bounds(level, col, row)
    scale = 2 ** (dz.max_level - level)
    best = reference.get_best_level_for_downsample(scale)
    downsample = reference.level_downsamples[best]
    l0_x, l0_y = x * scale, y * scale
    l0_w = min(width * scale, reference.dimensions[0] - l0_x)
    l0_h = min(height * scale, reference.dimensions[1] - l0_y)
    region = reference.read_region((l0_x, l0_y), best, (round(l0_w / downsample),
                                                        round(l0_h / downsample)))
    region = Image.fromarray(on_fill(region).astype(np.uint8))
    return np.asarray(region.resize((width, height), Image.LANCZOS), float)


def test_every_dzi_level_matches_openslide(client, mrxs_set):
    xml = ET.fromstring(client.get(f"/dzi/{SLIDE}.dzi").data)
    size = xml.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    dz = DeepZoom(int(size.get("Width")), int(size.get("Height")), int(xml.get("TileSize")),
                  int(xml.get("Overlap")))
    reference = openslide.OpenSlide(mrxs_set[SLIDE].path)
    generator = DeepZoomGenerator(reference, tile_size=dz.tile_size, overlap=dz.overlap)
    assert generator.level_count == dz.max_level + 1
    worst = 0.0
    for level in range(generator.level_count):
        assert generator.level_tiles[level] == dz.grid(level)
        for col in range(dz.grid(level)[0]):
            for row in range(dz.grid(level)[1]):
                ours = decoded(client.get(f"/dzi/{SLIDE}_files/{level}/{col}_{row}.png"))
                theirs = openslide_tile(reference, dz, level, col, row)
                assert ours.shape == theirs.shape, (level, col, row)
                if min(ours.shape[:2]) >= 16:
                    worst = max(worst, float(np.abs(ours - theirs).mean()))
    assert worst <= MAX_MEAN_DIFF
    print(f"MRXS DZI: worst tile {worst:.2f} from OpenSlide")


@pytest.mark.parametrize("region,size,level", [
    ("200,100,256,256", "256,256", 0),     # level 0, across photo overlaps
    ("0,0,952,720", "238,180", 2),         # level 2: pieces of images
    ("400,304,400,296", "50,", 3),         # level 3 (one image cut into twelve)
    ("700,500,300,300", "max", 0),         # past the slide's edge: the fill colour
])
def test_iiif_regions_match_openslide(client, mrxs_set, region, size, level):
    ours = decoded(client.get(f"/iiif/3/{SLIDE}/{region}/{size}/0/default.png"))
    x, y, w, h = map(int, region.split(","))
    reference = openslide.OpenSlide(mrxs_set[SLIDE].path)
    downsample = reference.level_downsamples[level]
    theirs = on_fill(reference.read_region((x, y), level, (round(min(w, 952 - x) / downsample),
                                                           round(min(h, 720 - y) / downsample))))
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < 1.0


def test_thumbnail_and_associated_images_match_openslide(client, mrxs_set):
    reference = openslide.OpenSlide(mrxs_set[SLIDE].path)
    ours = decoded(client.get(f"/slides/{SLIDE}/thumbnail?max_size=200&format=png"))
    theirs = np.asarray(reference.get_thumbnail((200, 200)).convert("RGB"), float)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < MAX_MEAN_DIFF
    meta = client.get(f"/slides/{SLIDE}").json
    assert meta["format"] == "mirax" and meta["associated"] == ["label", "macro", "thumbnail"]
    thumbnail = decoded(client.get(f"/slides/{SLIDE}/associated/thumbnail?format=png"))
    expected = np.asarray(reference.associated_images["thumbnail"].convert("RGB"), float)
    assert thumbnail.shape == expected.shape
    assert np.abs(thumbnail - expected).mean() < 1.0
    # Label and macro carry patient identity: refused unless configured.
    assert client.get(f"/slides/{SLIDE}/associated/label").status_code == 403


def test_the_listing_shows_the_slide_once_and_hides_its_folder(client):
    flat = [entry["id"] for entry in client.get("/slides").json["slides"]]
    assert flat == ["stitched.mrxs", "synthetic.mrxs"]
    top = client.get("/slides?delimiter=/").json["slides"]
    assert [(entry["id"], entry["kind"]) for entry in top] == [
        ("stitched.mrxs", "slide"), ("synthetic.mrxs", "slide")]


def _spoilt(mrxs_set, tmp_path, change) -> str:
    """A copy of the synthetic slide as bad.mrxs with `change(folder)` applied; its store."""
    shutil.copy(mrxs_set[SLIDE].path, tmp_path / "bad.mrxs")
    shutil.copytree(mrxs_set[SLIDE].folder, tmp_path / "bad")
    change(tmp_path / "bad")
    return f"file://{tmp_path}"


def _edit_ini(old: str, new: str):
    def change(folder):
        path = folder / "Slidedat.ini"
        text = path.read_text(encoding="utf-8-sig")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8-sig")
    return change


def _record_past_the_end(folder):
    """Index.dat's first level-0 record claims 10 MB more than its data file holds."""
    index = bytearray((folder / "Index.dat").read_bytes())
    head = len(b"01.02") + 32
    table = int.from_bytes(index[head:head + 4], "little")
    level0 = int.from_bytes(index[table:table + 4], "little")
    page = int.from_bytes(index[level0 + 4:level0 + 8], "little")
    index[page + 8 + 8:page + 8 + 12] = (10 << 20).to_bytes(4, "little")  # the length
    (folder / "Index.dat").write_bytes(bytes(index))


@pytest.mark.parametrize("change,status,reason", [
    (_edit_ini("DIGITIZER_WIDTH = 128\n", ""), 422, "DIGITIZER_WIDTH"),
    (_edit_ini("IMAGENUMBER_X = 8", "IMAGENUMBER_X = eight"), 422, "IMAGENUMBER_X"),
    (_edit_ini("[HIERARCHICAL]", "[SOMETHING]"), 415, "MIRAX key file"),
    (_edit_ini("IMAGE_FORMAT = JPEG", "IMAGE_FORMAT = JPEG2000"), 415, "JPEG2000"),
    (_record_past_the_end, 422, "past the end of Data0000.dat"),
    (lambda folder: (folder / "Data0001.dat").unlink(), 422, "Data0001.dat"),
    (lambda folder: (folder / "Index.dat").write_bytes(b"01.02"), 422, "Index.dat"),
    (lambda folder: (folder / "Slidedat.ini").unlink(), 415, "needs its folder"),
    (shutil.rmtree, 415, "needs its folder"),
])
def test_broken_slides_answer_json_with_the_reason(mrxs_set, tmp_path, change, status, reason):
    app = create_app({"WSI_STORE": _spoilt(mrxs_set, tmp_path, change)})
    client = app.test_client()
    for url in ("/slides/bad.mrxs", "/dzi/bad.mrxs_files/9/0_0.jpeg",
                "/iiif/3/bad.mrxs/full/max/0/default.jpg"):
        response = client.get(url)
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.json["status"] == status
        assert reason in response.json["message"]


def test_gunicorn_with_gevent_serves_what_the_app_renders(mrxs_set):
    """The standalone server (gunicorn, a gevent worker) under concurrent requests: every
    full-resolution DZI tile, each opening data files lazily through the joined reader, equals
    what the app renders in-process (checked against OpenSlide above)."""
    folder = _folder(mrxs_set)
    local = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    xml = ET.fromstring(local.get(f"/dzi/{SLIDE}.dzi").data)
    size = xml.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    dz = DeepZoom(int(size.get("Width")), int(size.get("Height")), int(xml.get("TileSize")),
                  int(xml.get("Overlap")))
    paths = [f"dzi/{SLIDE}_files/{dz.max_level}/{col}_{row}.png"
             for col in range(dz.grid(dz.max_level)[0]) for row in range(dz.grid(dz.max_level)[1])]
    with LiveServer(folder, workers=1) as live, requests.Session() as session:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda path: session.get(live.url + path, timeout=30),
                                    paths))
    for path, answer in zip(paths, answers):
        assert answer.status_code == 200, (path, answer.text[:200])
        assert answer.content == local.get("/" + path).data, path
