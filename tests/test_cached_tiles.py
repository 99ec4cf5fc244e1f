"""Cached DZI tiles answered before Flask: the same answer Flask gives, and Flask for the rest."""

import shutil

import pytest

import icc_slides
from helpers import testdata_path
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.app import create_app

SLIDE = "CMU-1-Small-Region.svs"
TILE = f"/dzi/{SLIDE}_files/12/0_0.jpeg"  # of the stored level: passed through, then cached
ICC_SLIDE = "strong.svs"  # an ICC profile that moves every colour: each mode answers its own
ICC_TILE = f"/dzi/{ICC_SLIDE}_files/10/0_0.jpeg"


class CountingWsgi:
    """Flask's WSGI app, counting the requests that reach it."""

    def __init__(self, flask_wsgi):
        self.flask_wsgi = flask_wsgi
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.flask_wsgi(environ, start_response)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path(SLIDE), folder / SLIDE)
    icc_slides.write_slide(str(folder / ICC_SLIDE), icc_profiles.swapped_primaries())
    return folder


def _app(folder, **config):
    app = create_app({"WSI_STORE": f"file://{folder}", **config})
    flask = CountingWsgi(app.wsgi_app.flask_wsgi)
    app.wsgi_app.flask_wsgi = flask
    return app, flask


def _figures(app):
    counters = app.extensions["wsi_blueprint"]["wsi"].counters
    return (counters.get("cache_hits", cache="tiles", tier="l1"),
            counters.get("tile_requests", source="cache"))


@pytest.mark.parametrize("tile,headers,config", [
    (TILE, {}, {}), (TILE, {"Origin": "https://lims.example"}, {}),
    (TILE, {"X-WSI-Session": "viewer-7", "User-Agent": "OSD"}, {}),
    *[(ICC_TILE, {}, {"WSI_COLOR": mode}) for mode in ("auto", "srgb", "embed", "raw")]])
def test_a_cached_tile_is_answered_as_flask_answers_it(folder, tile, headers, config):
    app, flask = _app(folder, **config)
    client = app.test_client()
    app.wsgi_app.enabled = False
    client.get(tile, headers=headers)  # Flask loads it into the tile cache
    before = _figures(app)
    by_flask = client.get(tile, headers=headers)
    after_flask = _figures(app)
    app.wsgi_app.enabled = True
    calls = flask.calls
    answered = client.get(tile, headers=headers)
    assert flask.calls == calls  # answered before Flask
    assert answered.status == by_flask.status == "200 OK"
    assert answered.headers.to_wsgi_list() == by_flask.headers.to_wsgi_list()
    assert answered.data == by_flask.data and answered.data[:2] == b"\xff\xd8"
    # the same figures: one tile cache hit, one tile answered from the cache
    assert [a - b for a, b in zip(_figures(app), after_flask)] == \
        [a - b for a, b in zip(after_flask, before)] == [1, 1]


@pytest.mark.parametrize("path,headers,status", [
    (TILE, {"If-None-Match": "*"}, 304),              # conditional: Flask's 304
    (TILE + "?tile_size=254&overlap=1", {}, 200),      # another geometry
    (f"/dzi/{SLIDE}_files/12/99_0.jpeg", {}, 404),      # no such tile
    (f"/dzi/{SLIDE}_files/12/1_0.jpeg", {}, 200),       # not cached yet
    ("/dzi/other.svs_files/12/0_0.jpeg", {}, 404),     # no such slide
    (f"/dzi/{SLIDE}.dzi", {}, 200),                    # another route
])
def test_whatever_is_not_a_plain_cached_tile_goes_to_flask(folder, path, headers, status):
    app, flask = _app(folder)
    client = app.test_client()
    client.get(TILE)
    calls = flask.calls
    response = client.get(path, headers=headers)
    assert flask.calls == calls + 1 and response.status_code == status
    if status == 404:
        assert response.get_json()["status"] == 404


def test_head_requests_go_to_flask(folder):
    app, flask = _app(folder)
    client = app.test_client()
    client.get(TILE)
    calls = flask.calls
    assert client.head(TILE).status_code == 200 and flask.calls == calls + 1


def test_with_access_control_or_the_request_log_flask_answers_every_tile(folder, tmp_path):
    app, flask = _app(folder, WSI_AUTH_SECRET="k1:" + "s" * 32)
    client = app.test_client()
    assert client.get(TILE).status_code == 401 and client.get(TILE).status_code == 401
    assert flask.calls == 2
    log = tmp_path / "requests.jsonl"
    app, flask = _app(folder, WSI_REQUEST_LOG=str(log))
    client = app.test_client()
    assert client.get(TILE).status_code == client.get(TILE).status_code == 200
    assert flask.calls == 2 and log.read_text().count("\n") == 2
