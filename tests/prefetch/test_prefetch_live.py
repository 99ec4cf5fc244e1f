"""The prefetcher on a live gunicorn server, replaying a viewer who pans east and looks at each
screen for a moment: what it prefetched is then served from cache, and its session budget and
store request rate limit hold.

One gevent worker (a session's requests all reach the prefetcher that learns from them), a
file store, a DZI level that is resampled from level 0 (so a tile served without a `render`
or `store` phase in Server-Timing came out of the tile cache).
"""

import random

import pytest

from live_server import LiveServer
from wsi_blueprint.bench import traces as tr
from wsi_blueprint.bench.replay import (metric_total, replay_session, scrape_metrics,
                                        sessions_of)
from wsi_blueprint.sample import write_sample

SLIDE = "wide.tiff"
VIEWPORT = (800, 600)
PANS = 6
LOOK = 0.6  # seconds the viewer looks at each screen


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prefetch-live")
    write_sample(str(folder / SLIDE), 12288, 4096)
    return folder


def panning_session(folder) -> list:
    """Open, zoom to a DZI level at scale 2 (resampled from level 0), then pans east of a
    third of a screen, each followed by a look."""
    info = tr.slide_info_from_file(str(folder / SLIDE), SLIDE)
    viewer = tr.Viewer("s1", random.Random(1), VIEWPORT)
    viewer.open(info)
    viewer.think(LOOK, LOOK)
    viewer.zoom_to(2400, 2048, 4.0)
    for _ in range(PANS):
        viewer.think(LOOK, LOOK)
        viewer.drag(VIEWPORT[0] / 3, 0)
    return list(sessions_of(viewer.records).values())[0]


def replay(folder, **env):
    # Reads of one block: a unit of a megabyte would bring a slide this small in whole on the
    # first demand read, leaving prefetch nothing to do (units: tests/caches/test_blocks.py).
    env.setdefault("WSI_PREFETCH_READ_SIZE", env.get("WSI_BLOCK_SIZE", "256K"))
    # The replay starts a drag's second frame 0.12 s after its first has loaded; under a loaded
    # machine a first frame that takes over 30 ms to load made two bursts of one drag (two
    # half pans, the second predicted short). A gap well inside the look keeps it one.
    env.setdefault("WSI_PREFETCH_BURST_GAP", "0.3")
    with LiveServer(folder, workers=1, env=env) as live:
        steps = panning_session(folder)
        run = replay_session(live.url, steps, concurrency=6, time_scale=1.0)
        metrics = scrape_metrics(live.url)
    assert run.errors == 0
    return steps, run, metrics


def dzi_level(request: dict) -> int:
    return int(request["url"].split("_files/")[1].split("/")[0])


def pan_tiles(run) -> list[dict]:
    """The tiles of the resampled level asked for by the pans after the first two (by then
    the viewer's heading is known). Stored level tiles a pan also asks for pass through."""
    pan_steps = sorted({r["step"] for r in run.requests if r["action"] == "pan"})
    later = set(pan_steps[4:])  # a drag is two frames: two steps a pan
    tiles = [r for r in run.requests if r["step"] in later and r["kind"] == "tile"]
    finest = max(map(dzi_level, tiles))
    return [r for r in tiles if dzi_level(r) == finest]


def from_cache(request: dict) -> bool:
    timing = request["timing"]
    return not any(phase in timing for phase in ("render", "decode", "store"))


def test_tiles_prefetched_while_the_viewer_looks_are_served_from_cache(folder):
    _, off, _ = replay(folder, WSI_PREFETCH="off")
    _, on, metrics = replay(folder, WSI_PREFETCH="on")
    tiles_off, tiles_on = pan_tiles(off), pan_tiles(on)
    assert len(tiles_on) == len(tiles_off) >= 12
    # Without prefetch every later pan tile is rendered (or read) on demand...
    assert sum(map(from_cache, tiles_off)) == 0
    # ...with it, most were rendered while the viewer looked at the screen before.
    assert sum(map(from_cache, tiles_on)) >= 0.7 * len(tiles_on)
    assert metric_total(metrics, "wsi_prefetch_tiles_rendered_total") >= len(tiles_on) * 0.7
    assert metric_total(metrics, "wsi_prefetch_tiles_used_total") >= 0.7 * len(tiles_on)
    # Foreseen once two pans east made a sweep: the third pan on (the last is still a burst
    # when the metrics are read).
    assert metric_total(metrics, "wsi_prefetch_predictions_total", outcome="hit") >= PANS - 3


def test_the_session_budget_holds_on_a_live_server(folder):
    budget = 400_000
    _, _, metrics = replay(folder, WSI_PREFETCH="on", WSI_PREFETCH_BUDGET=str(budget),
                           WSI_BLOCK_SIZE="64K")
    fetched = metric_total(metrics, "wsi_prefetch_bytes_total")
    assert 0 < fetched <= budget
    assert metric_total(metrics, "wsi_prefetch_dropped_total", why="budget") >= 1


def test_the_store_request_rate_limit_holds_on_a_live_server(folder):
    per_minute = 60  # a bucket of 10 requests, refilled by one a second
    steps, run, metrics = replay(folder, WSI_PREFETCH="on", WSI_PREFETCH_RATE=str(per_minute),
                                 WSI_BLOCK_SIZE="16K")
    allowed = per_minute / 6 + per_minute / 60 * (run.seconds + 2)  # bucket + refill, 2 s slack
    made = metric_total(metrics, "wsi_prefetch_store_requests_total")
    assert 0 < made <= allowed
    assert metric_total(metrics, "wsi_prefetch_dropped_total", why="rate") >= 1
