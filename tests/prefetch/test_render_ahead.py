"""Rendering ahead for IIIF viewers: a Mirador-style session (OpenSeadragon asking for the
tiles info.json advertises, `x,y,w,h/w,h/0/default.jpg`) gets its next screen rendered while
it looks, as DZI viewers do. Through a real app, its prefetcher and a file store."""

import time

import pytest
from flask import Flask

from helpers import make_settings
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.protocols.context import EXTENSION
from wsi_blueprint.sample import write_sample

SLIDE = "he.tiff"
GAP = 0.1  # seconds of quiet that end a burst


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirador")
    write_sample(str(folder / SLIDE), 8192, 3072)  # no stored level at scale 2
    return folder


@pytest.fixture
def app(folder):
    app = Flask("host")
    app.register_blueprint(create_blueprint(settings=make_settings(
        store=f"file://{folder}", block_size="16K", prefetch_read_size="16K",
        prefetch_burst_gap=str(GAP))))
    yield app
    app.extensions[EXTENSION]["wsi"].prefetcher.close()


def iiif_tile(client, info: dict, scale: int, col: int, row: int):
    """A tile as Mirador's OpenSeadragon names it in Image API 3."""
    tile = info["tiles"][0]["width"]
    span = tile * scale
    x, y = col * span, row * span
    w, h = min(span, info["width"] - x), min(span, info["height"] - y)
    return client.get(f"/iiif/3/{SLIDE}/{x},{y},{w},{h}/{-(-w // scale)},{-(-h // scale)}"
                      "/0/default.jpg", headers={"X-WSI-Session": "mirador-1"})


def screen(client, info, scale, col0, row0, cols=4, rows=3) -> list:
    return [iiif_tile(client, info, scale, col0 + c, row0 + r)
            for r in range(rows) for c in range(cols)]


def rendered_on_demand(response) -> bool:
    timing = response.headers.get("Server-Timing", "")
    return any(phase in timing for phase in ("render", "decode", "store"))


def test_a_mirador_session_panning_east_gets_the_next_screen_rendered_ahead(app):
    client = app.test_client()
    state = app.extensions[EXTENSION]["wsi"]
    info = client.get(f"/iiif/3/{SLIDE}/info.json").json
    assert 2 in info["tiles"][0]["scaleFactors"]  # scale 2: resampled, no stored level
    for col0 in (0, 2, 4):  # screens of 4 x 3 tiles two columns apart, each looked at
        first = screen(client, info, 2, col0, 1)
        assert all(r.status_code == 200 for r in first)
        assert all(map(rendered_on_demand, first[-2:]))  # the screen's new east column
        time.sleep(3 * GAP)  # the viewer looks: the burst ends, the next screen is planned
        assert state.prefetcher.drain()
    # Two pans east make a sweep: the screen at column 6 is foretold, and its two columns
    # not shown yet (8 and 9) are rendered while the viewer looks.
    assert state.counters.get("prefetch_tiles_rendered") == 6
    ahead = screen(client, info, 2, 6, 1)
    assert all(r.status_code == 200 for r in ahead)
    assert not any(map(rendered_on_demand, ahead))
    assert state.prefetcher.drain()
    assert state.counters.get("prefetch_tiles_used") == 6


def test_a_iiif_region_off_the_tile_grid_is_not_rendered_ahead(app):
    """Requests that are no tile of the advertised grid (a region a client cut itself) name
    no grid to render ahead in: blocks may be prefetched, tiles are not rendered."""
    client = app.test_client()
    state = app.extensions[EXTENSION]["wsi"]
    for step in range(4):
        for r in range(3):
            for c in range(4):
                x, y = 100 + (step + c) * 500, 100 + r * 500
                response = client.get(f"/iiif/3/{SLIDE}/{x},{y},500,500/250,250/0/default.jpg",
                                      headers={"X-WSI-Session": "cutter"})
                assert response.status_code == 200
        time.sleep(3 * GAP)
        assert state.prefetcher.drain()
    assert state.counters.get("prefetch_tiles_rendered") == 0
