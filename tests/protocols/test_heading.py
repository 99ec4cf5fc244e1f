"""`POST /slides/<id>/heading` through a real Flask app on a real slide: the screen a move ends
on is fetched before any tile of it is asked for, and a bad heading is refused cleanly."""

import json

import pytest

from wsi_blueprint.app import create_app
from wsi_blueprint.protocols.context import EXTENSION
from wsi_blueprint.protocols.heading import viewer_scale
from wsi_blueprint.sample import write_sample
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets

SLIDE = "cases/7/he.tiff"
SECRET = "k1:a-secret-for-headings"
# A 1024 x 768 screen showing level 0 one to one, in the slide's lower right quarter.
HEADING = {"x": 2560, "y": 1792, "width": 1024, "height": 768, "screen_width": 1024,
           "screen_height": 768}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heading")
    (folder / "cases" / "7").mkdir(parents=True)
    write_sample(str(folder / SLIDE), 4096, 3072)  # levels of 1, 4 and 16; 256 px tiles
    return folder


def make_app(folder, **config):
    return create_app({"WSI_STORE": f"file://{folder}", "WSI_BLOCK_SIZE": "16K",
                       "WSI_PREFETCH_READ_SIZE": "16K", **config})


def level0_cached(state, col_rows) -> set:
    """Which of these level-0 tiles have every block cached."""
    slide = state.library.open(SLIDE)
    blocks = slide.blocks
    found = set()
    for col, row in col_rows:
        wanted = set(blocks.indices(slide.tile_ranges(0, [(col, row)])))
        if blocks.cached(sorted(wanted)) == wanted:
            found.add((col, row))
    return found


def test_a_heading_fetches_the_screen_a_move_ends_on_before_it_is_asked(folder):
    app = make_app(folder)
    state = app.extensions[EXTENSION]["wsi"]
    answer = app.test_client().post(f"/slides/{SLIDE}/heading", json=HEADING)
    assert (answer.status_code, answer.data) == (204, b"")
    assert state.prefetcher.drain()
    assert state.counters.get("prefetch_headings", policy="full") == 1
    assert state.counters.get("prefetch_jobs", reason="heading", policy="full") == 1
    screen = {(col, row) for col in range(10, 14) for row in range(7, 10)}  # 256 px tiles
    assert level0_cached(state, screen) == screen
    # Only that screen of level 0: its opposite corner was not fetched.
    assert not level0_cached(state, {(1, 1), (3, 2), (6, 1)})
    # The heading opened the session, and with it came the overview, as a first tile would.
    assert state.counters.get("prefetch_jobs", reason="overview", policy="full") == 2


def test_a_heading_is_a_hint_that_prefetch_off_takes_without_work(folder):
    app = make_app(folder, WSI_PREFETCH="off")
    state = app.extensions[EXTENSION]["wsi"]
    answer = app.test_client().post(f"/slides/{SLIDE}/heading", json=HEADING)
    assert answer.status_code == 204
    assert state.prefetcher is None
    assert not level0_cached(state, {(10, 7), (11, 8)})


def test_a_session_whose_policy_is_off_gets_nothing_fetched(folder):
    app = make_app(folder, WSI_PREFETCH_POLICIES="off:100")
    state = app.extensions[EXTENSION]["wsi"]
    assert app.test_client().post(f"/slides/{SLIDE}/heading", json=HEADING).status_code == 204
    assert state.prefetcher.drain()
    assert state.counters.get("prefetch_headings", policy="off") == 0
    assert not level0_cached(state, {(10, 7), (11, 8)})


BAD = [
    (b"not json", 400), (b"[1, 2]", 400), (b"", 400),
    (json.dumps({**HEADING, "x": "2560"}).encode(), 400),
    (json.dumps({**HEADING, "y": True}).encode(), 400),
    (json.dumps({k: v for k, v in HEADING.items() if k != "height"}).encode(), 400),
    (json.dumps({**HEADING, "width": 0}).encode(), 400),
    (json.dumps({**HEADING, "height": -5}).encode(), 400),
    (json.dumps({**HEADING, "screen_width": 0}).encode(), 400),
    (json.dumps({**HEADING, "screen_height": 100_000}).encode(), 400),
    (b'{"x": NaN, "y": 0, "width": 1, "height": 1, "screen_width": 1, "screen_height": 1}', 400),
    (b'{"x": 1e400, "y": 0, "width": 1, "height": 1, "screen_width": 1, "screen_height": 1}',
     400),
    (json.dumps({**HEADING, "padding": "x" * 2000}).encode(), 413),
]


@pytest.mark.parametrize("body, status", BAD)
def test_a_bad_heading_is_refused_with_a_json_error_and_fetches_nothing(folder, body, status):
    app = make_app(folder)
    state = app.extensions[EXTENSION]["wsi"]
    answer = app.test_client().post(f"/slides/{SLIDE}/heading", data=body,
                                    content_type="application/json")
    assert answer.status_code == status
    assert answer.json["status"] == status and answer.json["message"]
    assert state.prefetcher.drain()
    assert state.counters.get("prefetch_headings", policy="full") == 0


def test_a_heading_for_an_unknown_slide_is_404(folder):
    answer = make_app(folder).test_client().post("/slides/cases/7/none.tiff/heading",
                                                 json=HEADING)
    assert (answer.status_code, answer.json["error"]) == (404, "slide_not_found")


def test_a_heading_needs_a_token_granting_the_slide(folder):
    app = make_app(folder, WSI_AUTH_SECRET=SECRET)
    state = app.extensions[EXTENSION]["wsi"]
    client = app.test_client()
    signer = TokenSigner(parse_secrets(SECRET))
    assert client.post(f"/slides/{SLIDE}/heading", json=HEADING).status_code == 401
    other = signer.sign("cases/7/other.tiff", expires_in=600)
    assert client.post(f"/t/{other}/slides/{SLIDE}/heading", json=HEADING).status_code == 403
    assert state.counters.get("prefetch_headings", policy="full") == 0
    token = signer.sign(SLIDE, expires_in=600)
    assert client.post(f"/t/{token}/slides/{SLIDE}/heading", json=HEADING).status_code == 204
    assert client.post(f"/slides/{SLIDE}/heading", json=HEADING,
                       headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert state.prefetcher.drain()
    assert state.counters.get("prefetch_headings", policy="full") == 2


@pytest.mark.parametrize("per_screen_pixel, level_scale", [
    (0.5, 1), (1, 1), (1.9, 1), (2, 1), (2.5, 2), (4, 2), (4.1, 4), (8, 4), (33, 32)])
def test_the_level_asked_for_is_the_finest_an_openseadragon_screen_draws(per_screen_pixel,
                                                                         level_scale):
    """OpenSeadragon draws a level while a level pixel covers at least half a screen pixel."""
    assert viewer_scale(1600 * per_screen_pixel, 900 * per_screen_pixel, 1600, 900) == \
        level_scale
