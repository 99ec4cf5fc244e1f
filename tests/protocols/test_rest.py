"""REST routes through a real Flask app: listing, metadata, errors, health, mounting."""

import os
import shutil

import pytest
from flask import Flask

from helpers import make_settings, testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.blueprint import create_blueprint


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "cases" / "7").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), tmp_path / "cases" / "7" / "he")
    for name in ("not-a-tiff.svs", "unknown-compression.tiff"):
        shutil.copy(testdata_path(name), tmp_path / name)
    return tmp_path


@pytest.fixture
def client(folder):
    return create_app({"WSI_STORE": f"file://{folder}"}).test_client()


def test_list_with_pagination(client):
    first = client.get("/slides?limit=2").json
    assert [s["id"] for s in first["slides"]] == ["cases/7/he", "not-a-tiff.svs"]
    rest = client.get(f"/slides?limit=2&cursor={first['next_cursor']}").json
    assert [s["id"] for s in rest["slides"]] == ["unknown-compression.tiff"]
    assert rest["next_cursor"] is None
    assert client.get("/slides?prefix=cases/").json["slides"][0]["size"] == os.path.getsize(
        testdata_path("CMU-1-Small-Region.svs"))


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=100000", "limit=-1",
                                   "prefix=../x", "cursor=..%2Fx"])
def test_bad_list_parameters_are_400(client, query):
    response = client.get(f"/slides?{query}")
    assert response.status_code == 400 and response.json["status"] == 400


def test_metadata_follows_the_contract(client):
    meta = client.get("/slides/cases/7/he").json
    assert meta["id"] == "cases/7/he" and meta["format"] == "aperio"
    assert (meta["width"], meta["height"]) == (2220, 2967)
    assert meta["levels"] == [{"width": 2220, "height": 2967, "downsample": 1.0,
                               "tile_width": 240, "tile_height": 240}]
    assert meta["mpp"] == [0.499, 0.499] and meta["objective_power"] == 20
    assert meta["associated"] == ["label", "macro", "thumbnail"]
    assert meta["properties"]["aperio.AppMag"] == "20"
    assert meta["urls"]["metadata"] == "http://localhost/slides/cases/7/he"


def test_percent_encoded_ids_work(client):
    assert client.get("/slides/cases%2F7%2Fhe").json["id"] == "cases/7/he"


@pytest.mark.parametrize("path,status,code", [
    ("/slides/nope.svs", 404, "slide_not_found"),
    ("/slides/not-a-tiff.svs", 415, "unsupported_format"),
    ("/slides/unknown-compression.tiff", 415, "unsupported_format"),
    ("/slides/..%2F..%2Fetc%2Fpasswd", 400, "invalid_slide_id"),
    ("/slides/cases/7/%2e%2e/7/he", 400, "invalid_slide_id"),
    ("/slides/a%5Cb", 400, "invalid_slide_id"),
    ("/slides/a%00b", 400, "invalid_slide_id"),
    ("/no/such/route", 404, "not_found"),
])
def test_errors_are_json_with_the_right_status(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert response.is_json and response.json["error"] == code
    assert "Traceback" not in response.get_data(as_text=True)


def test_health_and_readiness(client, memcached):
    assert client.get("/healthz").json["status"] == "ok"
    assert client.get("/readyz").status_code == 200


def test_readiness_fails_when_memcached_is_down(folder, memcached):
    client = create_app({"WSI_STORE": f"file://{folder}",
                         "WSI_MEMCACHED": memcached.address}).test_client()
    assert client.get("/readyz").json["checks"] == {"store": "ok", "memcached": "ok"}
    memcached.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["memcached"] == f"no answer from {memcached.address}"
    assert client.get("/slides/cases/7/he").status_code == 200  # serving goes on


def test_host_app_mounts_the_blueprint_beside_its_own_routes(folder):
    app = Flask("host")
    app.add_url_rule("/", "home", lambda: "host home")
    app.register_blueprint(create_blueprint(settings=make_settings(store=f"file://{folder}")),
                           url_prefix="/pathology")
    client = app.test_client()
    assert client.get("/").get_data(as_text=True) == "host home"
    meta = client.get("/pathology/slides/cases/7/he").json
    assert meta["urls"]["metadata"] == "http://localhost/pathology/slides/cases/7/he"
    assert client.get(meta["urls"]["metadata"]).status_code == 200
    assert client.get("/pathology/slides/nope").json["status"] == 404


def decoded(response):
    import io

    import numpy as np
    from PIL import Image
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


def test_thumbnail_matches_openslide(client, folder):
    import numpy as np
    import openslide
    ours = decoded(client.get("/slides/cases/7/he/thumbnail?max_size=300&format=png"))
    theirs = np.asarray(openslide.OpenSlide(str(folder / "cases/7/he")).get_thumbnail(
        (300, 300)).convert("RGB"), float)
    assert ours.shape == theirs.shape == (300, 224, 3)
    assert np.abs(ours - theirs).mean() < 5  # Lanczos against box and DCT reduction


@pytest.mark.parametrize("query", ["max_size=0", "max_size=100000", "max_size=x",
                                   "format=gif"])
def test_thumbnail_bad_parameters(client, query):
    assert client.get(f"/slides/cases/7/he/thumbnail?{query}").status_code == 400


def test_native_tiles(client, folder):
    import numpy as np
    import openslide
    ours = decoded(client.get("/tiles/cases/7/he/0/9/12.jpg"))  # the corner edge tile
    theirs = np.asarray(openslide.OpenSlide(str(folder / "cases/7/he")).read_region(
        (2160, 2880), 0, (60, 87)).convert("RGB"), float)
    assert ours.shape == theirs.shape and np.abs(ours - theirs).mean() < 3
    for path in ("/tiles/cases/7/he/0/10/0.jpg", "/tiles/cases/7/he/1/0/0.jpg",
                 "/tiles/nope/0/0/0.jpg"):
        assert client.get(path).status_code == 404


def test_label_and_macro_are_refused_unless_configured(folder):
    import numpy as np
    import openslide
    closed = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    for name in ("label", "macro"):
        response = closed.get(f"/slides/cases/7/he/associated/{name}")
        assert response.status_code == 403 and response.json["error"] == "forbidden"
    assert closed.get("/slides/cases/7/he/associated/thumbnail").status_code == 200
    assert closed.get("/slides/cases/7/he/associated/other").status_code == 404
    opened = create_app({"WSI_STORE": f"file://{folder}", "WSI_SHOW_LABEL_AND_MACRO": "on"})
    reference = openslide.OpenSlide(str(folder / "cases/7/he")).associated_images
    for name in ("label", "macro", "thumbnail"):
        ours = decoded(opened.test_client().get(
            f"/slides/cases/7/he/associated/{name}?format=png"))
        theirs = np.asarray(reference[name].convert("RGB"), float)
        assert ours.shape == theirs.shape and np.abs(ours - theirs).mean() < 1.0, name


def test_urls_name_the_public_address_behind_a_proxy(folder):
    client = create_app({"WSI_STORE": f"file://{folder}", "WSI_PROXY_FIX": "1"}).test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "slides.hospital.example",
               "X-Forwarded-Prefix": "/pathology"}
    info = client.get("/iiif/3/cases/7/he/info.json", headers=headers).json
    assert info["id"] == "https://slides.hospital.example/pathology/iiif/3/cases/7/he"
    urls = client.get("/slides/cases/7/he", headers=headers).json["urls"]
    assert urls["dzi"] == "https://slides.hospital.example/pathology/dzi/cases/7/he.dzi"
    untrusted = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    assert untrusted.get("/iiif/3/cases/7/he/info.json", headers=headers).json["id"].startswith(
        "http://localhost/iiif/3/")
