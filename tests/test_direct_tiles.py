"""DZI tiles and IIIF images answered before Flask: the same answer Flask gives, and Flask for
the rest."""

import shutil

import pytest

import icc_slides
from helpers import testdata_path
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.app import create_app
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets

SLIDE = "CMU-1-Small-Region.svs"
TILE = f"/dzi/{SLIDE}_files/12/0_0.jpeg"  # of the stored level: passed through, then cached
DERIVED = f"/dzi/{SLIDE}_files/11/1_0.jpeg"  # resampled from four stored tiles
CORRUPT = "corrupt-tile.svs"
ICC_SLIDE = "strong.svs"  # an ICC profile that moves every colour: each mode answers its own
ICC_TILE = f"/dzi/{ICC_SLIDE}_files/10/0_0.jpeg"
SECRET = "k1:" + "s" * 32
# Mirador's requests for the tiles info.json advertises, a stored one and a resampled one, in
# both Image APIs; and an image that is no tile (a region, rotated, grey).
IIIF_TILE = f"/iiif/3/{SLIDE}/240,0,240,240/240,240/0/default.jpg"
IIIF2_TILE = f"/iiif/2/{SLIDE}/240,0,240,240/240,/0/default.jpg"
IIIF_DERIVED = f"/iiif/3/{SLIDE}/480,0,480,480/240,240/0/default.jpg"
IIIF_IMAGE = f"/iiif/3/{SLIDE}/pct:10,10,20,20/!200,200/90/gray.png"


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
    shutil.copy(testdata_path(CORRUPT), folder / CORRUPT)
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


def _token(subject: str, prefix: bool = False, expires_in: int = 3600) -> str:
    return TokenSigner(parse_secrets(SECRET)).sign(subject, prefix=prefix, expires_in=expires_in)


AUTH = {"WSI_AUTH_SECRET": SECRET}


@pytest.mark.parametrize("tile,headers,config", [
    (TILE, {}, {}), (TILE, {"Origin": "https://lims.example"}, {}),
    (TILE, {"X-WSI-Session": "viewer-7", "User-Agent": "OSD"}, {}),
    *[(ICC_TILE, {}, {"WSI_COLOR": mode}) for mode in ("auto", "srgb", "embed", "raw")],
    (IIIF_TILE, {}, {}), (IIIF2_TILE, {"Origin": "https://lims.example"}, {}),
    (IIIF_IMAGE, {}, {}),
    # With access control, a token that grants the slide: in the path (by the slide's id or
    # a prefix of it) or a Bearer header.
    (f"/t/{_token(SLIDE)}{TILE}", {}, AUTH), (f"/t/{_token(SLIDE)}{IIIF_TILE}", {}, AUTH),
    (f"/t/{_token('CMU-1-', prefix=True)}{TILE}", {}, AUTH),
    (TILE, {"Authorization": f"Bearer {_token(SLIDE)}"}, AUTH)])
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
    assert _headers(answered) == _headers(by_flask)
    assert _server_timing_names(answered) == ["total"]  # the server's own time, no phase
    assert answered.data == by_flask.data and answered.data[:2] in (b"\xff\xd8", b"\x89P")
    # the same figures: one tile cache hit, one tile answered from the cache
    assert [a - b for a, b in zip(_figures(app), after_flask)] == \
        [a - b for a, b in zip(after_flask, before)] == [1, 1]


@pytest.mark.parametrize("path,headers,status", [
    (TILE, {"If-None-Match": "*"}, 304),              # conditional: Flask's 304
    (TILE + "?tile_size=254&overlap=1", {}, 200),      # another geometry
    (f"/dzi/{SLIDE}_files/12/99_0.jpeg", {}, 404),      # no such tile
    ("/dzi/other.svs_files/12/0_0.jpeg", {}, 404),     # no such slide
    (f"/dzi/{SLIDE}.dzi", {}, 200),                    # another route
    (f"/iiif/3/{SLIDE}/info.json", {}, 200), (f"/iiif/3/{SLIDE}/manifest.json", {}, 200),
    (f"/iiif/3/{SLIDE}/0,0,240,240/full/0/default.jpg", {}, 400),  # a v2 size in v3
    (f"/iiif/3/{SLIDE}/0,0,240,240/240,/0/sepia.jpg", {}, 400),  # no such quality
    (IIIF_TILE + "?color=raw", {}, 200),               # a query
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


@pytest.mark.parametrize("path,headers,status", [
    (TILE, {}, 401),                                              # no token
    (f"/t/{_token(SLIDE)[:-2]}xx{TILE}", {}, 403),                # forged
    (f"/t/{_token(SLIDE, expires_in=-10)}{TILE}", {}, 401),       # expired
    (f"/t/{_token('other.svs')}{TILE}", {}, 403),                 # another slide's
    (f"/t/{_token('other/', prefix=True)}{IIIF_TILE}", {}, 403),  # another prefix's
    (TILE, {"Authorization": f"Bearer {_token('other.svs')}"}, 403),
    (f"{TILE}?token={_token(SLIDE)}", {}, 200),                   # in the query: Flask's
])
def test_with_access_control_whatever_is_not_granted_goes_to_flask(folder, path, headers,
                                                                   status):
    app, flask = _app(folder, **AUTH)
    client = app.test_client()
    assert client.get(f"/t/{_token(SLIDE)}{TILE}").status_code == 200  # open and cached
    assert client.get(f"/t/{_token(SLIDE)}{IIIF_TILE}").status_code == 200
    calls = flask.calls
    response = client.get(path, headers=headers)
    assert flask.calls == calls + 1 and response.status_code == status
    if status != 200:
        assert response.get_json()["status"] == status


def test_with_the_request_log_flask_answers_every_tile(folder, tmp_path):
    log = tmp_path / "requests.jsonl"
    app, flask = _app(folder, WSI_REQUEST_LOG=str(log))
    client = app.test_client()
    assert client.get(TILE).status_code == client.get(TILE).status_code == 200
    assert flask.calls == 2 and log.read_text().count("\n") == 2


def _opened(folder, enabled: bool, **config):
    """An app whose worker has the slides open (the descriptors asked) and no tile cached."""
    app, flask = _app(folder, **config)
    app.wsgi_app.enabled = enabled
    client = app.test_client()
    for slide in (SLIDE, CORRUPT, ICC_SLIDE):
        assert client.get(f"/dzi/{slide}.dzi").status_code == 200
    return app, flask, client


def _headers(response) -> list[tuple[str, object]]:
    """The headers in order, Server-Timing by its phases' names (their durations differ)."""
    return [(name, _server_timing_names(response) if name == "Server-Timing" else value)
            for name, value in response.headers.to_wsgi_list()]


def _server_timing_names(response) -> list[str]:
    timing = response.headers.get("Server-Timing")
    return [part.split(";")[0] for part in timing.split(", ")] if timing else []


@pytest.mark.parametrize("tile,headers,config", [
    (TILE, {}, {}), (DERIVED, {}, {}), (DERIVED, {"Origin": "https://lims.example"}, {}),
    (DERIVED, {"X-WSI-Session": "viewer-7"}, {"WSI_PREFETCH": "off"}),
    *[(ICC_TILE, {}, {"WSI_COLOR": mode}) for mode in ("srgb", "embed")],
    (IIIF_TILE, {}, {}), (IIIF_DERIVED, {"Origin": "https://lims.example"}, {})])
def test_a_tile_not_cached_is_made_and_answered_as_flask_answers_it(folder, tile, headers,
                                                                    config):
    """A stored tile passed through, a resampled one rendered: same bytes, headers in the same
    order (Server-Timing with the same phases), same figures; Flask never reached."""
    answers, figures = [], []
    for enabled in (False, True):
        app, flask, client = _opened(folder, enabled, **config)
        calls, before = flask.calls, _figures(app)
        answers.append(client.get(tile, headers=headers))
        assert (flask.calls == calls) is enabled
        counters = app.extensions["wsi_blueprint"]["wsi"].counters
        figures.append([a - b for a, b in zip(_figures(app), before)]
                       + [counters.get("tile_requests", source="store"),
                          counters.get("tile_requests", source="cache")])
        assert client.get(tile, headers=headers).data == answers[-1].data  # now cached
    by_flask, answered = answers
    assert answered.status == by_flask.status == "200 OK"
    assert [name for name, _ in answered.headers.to_wsgi_list()] == \
        [name for name, _ in by_flask.headers.to_wsgi_list()]
    assert {k: v for k, v in answered.headers.items() if k != "Server-Timing"} == \
        {k: v for k, v in by_flask.headers.items() if k != "Server-Timing"}
    assert _server_timing_names(answered) == _server_timing_names(by_flask)
    assert tile != DERIVED or set(_server_timing_names(answered)) - {"total"}  # rendered: named
    assert answered.data == by_flask.data and answered.data[:2] == b"\xff\xd8"
    assert figures[0] == figures[1] and figures[1][0] == 0 and sum(figures[1][2:]) == 1


def test_a_tile_that_cannot_be_made_gets_flasks_error_and_is_tried_once(folder, monkeypatch):
    """A corrupt stored tile: the blueprint's 422 JSON, the read not repeated by Flask."""
    from wsi_blueprint.reader import SlideReader
    tried = []
    image = SlideReader.image
    monkeypatch.setattr(SlideReader, "image", lambda self, req: tried.append(req) or
                        image(self, req))
    answers = []
    for enabled in (False, True):
        app, flask, client = _opened(folder, enabled)
        calls, tried[:] = flask.calls, []
        answers.append(client.get(f"/dzi/{CORRUPT}_files/4/0_0.jpeg"))
        assert flask.calls == calls + 1 and len(tried) == 1
    by_flask, answered = answers
    assert answered.status_code == by_flask.status_code == 422
    assert answered.get_json() == by_flask.get_json()
    assert answered.get_json()["error"] == "corrupt_slide"
