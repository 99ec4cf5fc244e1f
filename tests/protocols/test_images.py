"""`serve(reader, request)`: the one way an image route answers, through a real app."""

import io

import pytest
from flask import Flask
from PIL import Image

from helpers import make_settings, testdata_path
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.protocols.context import EXTENSION


@pytest.fixture
def cmu(s3_server, s3_bucket):
    s3_server.put(s3_bucket, "cases/1/cmu", open(testdata_path("CMU-1-Small-Region.svs"),
                                                 "rb").read())


def s3_app(s3_server, bucket) -> Flask:
    app = Flask("host")
    app.register_blueprint(create_blueprint(settings=make_settings(
        store=f"s3://{bucket}", s3_endpoint_url=s3_server.endpoint, block_size="64K",
        prefetch="off")))
    return app


def test_an_image_of_a_replaced_object_comes_whole_from_its_new_version(
        s3_server, s3_bucket, cmu):
    """The slide is open when its object is replaced: the thumbnail's first uncached read
    meets the new ETag, and the route serves the new slide's thumbnail, never a mix."""
    app = s3_app(s3_server, s3_bucket)
    client = app.test_client()
    assert client.get("/slides/cases/1/cmu").json["width"] == 2220
    s3_server.put(s3_bucket, "cases/1/cmu", open(testdata_path("small.svs"), "rb").read())
    response = client.get("/slides/cases/1/cmu/thumbnail?max_size=64")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).width == 16  # small.svs
    state = app.extensions[EXTENSION]["wsi"]
    assert state.counters.get("slide_reopens") == 1


def test_dzi_and_iiif_tiles_of_the_same_pixels_share_one_cached_image(tmp_path):
    """A DZI tile and the IIIF request for the same rectangle at the same size are one
    request to the reader: one render, one cache entry, one ETag."""
    (tmp_path / "he.svs").write_bytes(open(testdata_path("CMU-1-Small-Region.svs"), "rb").read())
    app = Flask("host")
    app.register_blueprint(create_blueprint(settings=make_settings(store=f"file://{tmp_path}",
                                                                   prefetch="off")))
    client = app.test_client()
    # DZI level 11 of a 2220 x 2967 slide (max level 12) is scale 2: tile 1_1 of 240 px is
    # level-0 (480, 480, 480, 480) at 240 x 240, resampled (no stored level at scale 2).
    dzi = client.get("/dzi/he.svs_files/11/1_1.jpeg")
    state = app.extensions[EXTENSION]["wsi"]
    misses = state.counters.get("cache_misses", cache="tiles")
    iiif = client.get("/iiif/3/he.svs/480,480,480,480/240,240/0/default.jpg")
    assert dzi.status_code == iiif.status_code == 200
    assert iiif.data == dzi.data and iiif.headers["ETag"] == dzi.headers["ETag"]
    assert state.counters.get("cache_misses", cache="tiles") == misses
    gray = client.get("/iiif/3/he.svs/480,480,480,480/240,240/0/gray.jpg")
    assert gray.headers["ETag"] != dzi.headers["ETag"]
