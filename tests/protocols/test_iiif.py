"""IIIF routes on real slides: info.json, passthrough, pixels against OpenSlide, manifest."""

import io
import shutil

import numpy as np
import openslide
import pytest
from flask import Flask
from PIL import Image

from helpers import make_settings, testdata_path
from wsi_blueprint.blueprint import create_blueprint

CMU = "cases/7/CMU-1-Small-Region.svs"
MAX_MEAN_DIFF = 4.0  # per channel, 0-255: decoder rounding, resampling filter, JPEG re-encoding


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    (folder / "cases" / "7").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / CMU)
    return folder


@pytest.fixture(scope="module")
def client(folder):
    """Mounted under /pathology in a host app, as a hospital portal would."""
    app = Flask("host")
    app.register_blueprint(create_blueprint(settings=make_settings(store=f"file://{folder}")),
                           url_prefix="/pathology")
    return app.test_client()


def image(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


def test_base_uri_redirects_to_info_json(client):
    response = client.get(f"/pathology/iiif/3/{CMU}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/pathology/iiif/3/{CMU}/info.json")


def test_info_json_3_advertises_native_tiles_and_levels(client):
    response = client.get(f"/pathology/iiif/3/{CMU}/info.json")
    info = response.json
    assert info["id"] == f"http://localhost/pathology/iiif/3/{CMU}"
    assert info["type"] == "ImageService3" and info["profile"] == "level2"
    assert (info["width"], info["height"]) == (2220, 2967)
    assert info["tiles"] == [{"width": 240, "height": 240, "scaleFactors": [1, 2, 4, 8, 16]}]
    assert info["sizes"] == [{"width": 2220, "height": 2967}]
    assert response.headers["Link"] == '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_info_json_2_and_json_ld_media_type(client):
    response = client.get(f"/pathology/iiif/2/{CMU}/info.json",
                          headers={"Accept": "application/ld+json"})
    assert response.headers["Content-Type"].startswith("application/ld+json")
    info = response.json
    assert info["@id"] == f"http://localhost/pathology/iiif/2/{CMU}"
    assert info["profile"][0] == "http://iiif.io/api/image/2/level2.json"


def test_percent_encoded_identifier(client):
    encoded = CMU.replace("/", "%2F")
    assert client.get(f"/pathology/iiif/3/{encoded}/info.json").json["width"] == 2220


def test_a_tile_request_passes_the_stored_jpeg_through(client):
    iiif = client.get(f"/pathology/iiif/3/{CMU}/240,480,240,240/240,240/0/default.jpg").data
    dzi = client.get(f"/pathology/dzi/{CMU}_files/12/1_2.jpeg").data
    assert iiif == dzi and b"Adobe" in iiif[:64]


@pytest.mark.parametrize("region,size", [("800,1200,600,400", "600,400"),
                                         ("0,0,2220,2967", "555,"),
                                         ("2000,2800,220,167", "max"),
                                         ("pct:25,25,50,50", "pct:30")])
def test_regions_match_openslide(client, folder, region, size):
    ours = image(client.get(f"/pathology/iiif/3/{CMU}/{region}/{size}/0/default.png"))
    slide = openslide.OpenSlide(str(folder / CMU))
    if region.startswith("pct:"):
        x, y, w, h = 555, 742, 1110, 1484  # 25 % and 50 % of 2220 x 2967, rounded
    else:
        x, y, w, h = map(int, region.split(","))
    reference = slide.read_region((x, y), 0, (w, h)).convert("RGB")
    reference = reference.resize((ours.shape[1], ours.shape[0]), Image.LANCZOS)
    assert np.abs(ours - np.asarray(reference, float)).mean() < MAX_MEAN_DIFF


def test_rotation_mirroring_and_qualities(client):
    base = f"/pathology/iiif/3/{CMU}/800,1200,300,200/300,200"
    plain = image(client.get(f"{base}/0/default.png"))
    assert np.array_equal(image(client.get(f"{base}/90/default.png")), np.rot90(plain, -1))
    assert np.array_equal(image(client.get(f"{base}/!0/default.png")), plain[:, ::-1])
    assert np.array_equal(image(client.get(f"{base}/!180/default.png")), plain[::-1])
    gray = image(client.get(f"{base}/0/gray.png"))
    assert np.array_equal(gray[..., 0], gray[..., 1])
    bitonal = image(client.get(f"{base}/0/bitonal.png"))
    assert set(np.unique(bitonal)) <= {0.0, 255.0}


def test_errors(client):
    for path, status in [(f"/pathology/iiif/3/{CMU}/full/max/45/default.jpg", 400),
                         (f"/pathology/iiif/3/{CMU}/full/9999,/0/default.jpg", 400),
                         (f"/pathology/iiif/3/{CMU}/full/^20000,/0/default.jpg", 413),
                         (f"/pathology/iiif/3/{CMU}/full/max/0/default.gif", 400),
                         ("/pathology/iiif/3/nope.svs/info.json", 404),
                         ("/pathology/iiif/3/nope.svs", 404)]:
        response = client.get(path)
        assert (response.status_code, response.is_json) == (status, True), path


def test_manifest_paints_one_canvas_with_the_image_service(client):
    manifest = client.get(f"/pathology/iiif/3/{CMU}/manifest.json").json
    assert manifest["type"] == "Manifest" and manifest["label"] == {"none": [CMU]}
    canvas = manifest["items"][0]
    assert (canvas["width"], canvas["height"]) == (2220, 2967)
    annotation = canvas["items"][0]["items"][0]
    assert annotation["motivation"] == "painting" and annotation["target"] == canvas["id"]
    service = annotation["body"]["service"][0]
    assert service["type"] == "ImageService3"
    assert client.get(service["id"] + "/info.json").status_code == 200
    assert client.get(annotation["body"]["id"]).status_code == 200
    metadata = {m["label"]["en"][0]: m["value"]["none"][0] for m in manifest["metadata"]}
    assert metadata["Microns per pixel"] == "0.4990"


def test_manifest_is_valid_presentation_3(client):
    """Checked against the IIIF community's own models of Presentation 3 (iiif-prezi3, made
    from the specification's JSON schema): a manifest a strict client would refuse fails
    here, as a canvas of another type does."""
    from iiif_prezi3 import Manifest
    from pydantic import ValidationError

    manifest = client.get(f"/pathology/iiif/3/{CMU}/manifest.json").json
    Manifest(**manifest)
    manifest["items"][0]["type"] = "Image"
    with pytest.raises(ValidationError):
        Manifest(**manifest)


def test_metadata_urls_all_answer_under_the_mount(client):
    urls = client.get(f"/pathology/slides/{CMU}").json["urls"]
    assert set(urls) == {"metadata", "thumbnail", "dzi", "iiif", "iiif2", "manifest", "viewer"}
    for name, url in urls.items():
        assert url.startswith("http://localhost/pathology/"), name
        assert client.get(url).status_code in (200, 303), name
