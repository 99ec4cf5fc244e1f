"""Replaying a trace against the real server (gunicorn, S3 from the simulated store), and load."""

import pytest

from wsi_blueprint.bench import traces
from wsi_blueprint.bench.live_server import LiveServer
from wsi_blueprint.bench.load import run_load
from wsi_blueprint.bench.replay import (Connections, pixels_made, replay_session, sessions_of,
                                     summarise)


@pytest.fixture(scope="module")
def server(sim_store):
    env = {"WSI_STORE": "s3://slides", "WSI_S3_ENDPOINT_URL": sim_store.endpoint,
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    with LiveServer(None, workers=1, env=env) as live:
        yield live


@pytest.fixture(scope="module")
def session_steps(small_slides):
    infos = [traces.slide_info_from_file(s.path, s.slide_id) for s in small_slides]
    records = traces.generate(infos, 1, seed=2, profile=traces.QUICK)
    steps = sessions_of(records)["s1"]
    return steps[:12]  # open both slides? the first one and some moves: enough, and quick


def test_replay_gives_latencies_ttft_and_store_counts(server, sim_store, session_steps):
    sim_store.reset()
    cold = replay_session(server.url, session_steps, concurrency=6)
    cold_store = sim_store.stats()
    sim_store.reset()
    warm = replay_session(server.url, session_steps, concurrency=6)
    warm_store = sim_store.stats()
    tiles = sum(1 for s in session_steps for r in s.requests if r["kind"] == "tile")
    assert cold.errors == 0 and warm.errors == 0
    assert len(cold.tile_latencies()) == tiles == len(warm.tile_latencies())
    summary = summarise(cold)
    assert 0 < summary["p50"] <= summary["p95"] <= summary["p99"]
    # the slide was opened cold: its descriptor and first tile waited for the store (40 ms)
    assert cold.ttft and cold.ttft[0]["ms"] >= 40
    assert len(cold.steps) == len(session_steps)
    # the store was read for the cold pass; the warm pass is served from the caches
    assert cold_store["requests"] >= 2 and cold_store["bytes"] > 0
    assert warm_store["requests"] < cold_store["requests"]
    assert summarise(warm)["p50"] < summary["p50"] or warm_store["requests"] == 0


def test_load_is_bounded_and_counts(server, session_steps):
    urls = [r["url"] for s in session_steps for r in s.requests if r["kind"] == "tile"]
    for tool in ("python", "wrk"):
        if tool == "wrk":
            import shutil
            if not shutil.which("wrk"):
                continue
        result = run_load(server.url, urls[:50], seconds=1, connections=4, unique=False,
                          tool=tool)
        assert result["requests"] > 0 and result["errors"] == 0 and result["rps"] > 0
        assert result["seconds"] < 5
    unique = run_load(server.url, urls[:10], seconds=1, connections=2, unique=True,
                      tool="python")
    assert unique["requests"] == 10 and unique["exhausted"]


def test_load_refuses_other_hosts():
    with pytest.raises(ValueError):
        run_load("http://10.1.2.3/", ["a"], seconds=1)


def test_pixels_made_tells_rendered_and_transcoded_tiles_from_passed_through_ones(small_slides):
    root = small_slides[0].path[:-len(small_slides[0].slide_id)]
    tiles = "dzi/case-t/A1.svs_files"  # 4000 x 3000 px, 240 px tiles; DZI level 12 is stored
    timings = {}
    with LiveServer(root, workers=1) as live:  # its own: no tile cached by other tests
        connections = Connections(live.url, timeout=30)
        for name, url in (("stored", f"{tiles}/12/3_3.jpeg"), ("edge", f"{tiles}/12/16_3.jpeg"),
                          ("resampled", f"{tiles}/11/3_3.jpeg")):
            status, _, headers = connections.get(url)
            assert status == 200
            timings[name] = headers.get("Server-Timing", "")
        connections.close()
    assert not pixels_made(timings["stored"])
    assert "transcode;dur=" in timings["edge"] and pixels_made(timings["edge"])
    assert "render;dur=" in timings["resampled"] and pixels_made(timings["resampled"])


def test_every_viewing_style_replays_against_the_server(server, small_slides):
    """Mirador's IIIF tiles and the blending viewer's two levels are all answered: the
    generated URLs are the server's, and a record's headers go with its request."""
    import collections
    import threading

    infos = [traces.slide_info_from_file(s.path, s.slide_id) for s in small_slides]
    for style in ("mirador", "mixed"):
        profile = traces.quick(traces.STYLES[style])
        steps = sessions_of(traces.generate(infos[:1], 1, seed=4, profile=profile))["s1"][:8]
        run = replay_session(server.url, steps, concurrency=6)
        kinds = collections.Counter(r["kind"] for r in run.requests)
        assert run.errors == 0 and kinds["tile"] > 20 and kinds["dzi"] == 1, style
    # The headers a record carries are sent (a loopback server that notes them).
    import http.server

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("X-WSI-Session"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        steps = sessions_of([{"session": "a", "step": 0, "url": "x.jpeg",
                              "headers": {"X-WSI-Session": "a"}},
                             {"session": "b", "step": 0, "url": "y.jpeg"}])
        for name in ("a", "b"):
            assert replay_session(url, steps[name], concurrency=1, timeout=5).errors == 0
    finally:
        httpd.shutdown()
        thread.join(5)
    assert seen == ["a", None]


def test_a_recorded_viewers_requests_go_out_at_their_own_times(server, small_slides):
    """A browser's move spreads its requests over the animation's frames (each record's
    own `t`): each is sent no sooner than its time into the step, scaled like the pauses."""
    infos = [traces.slide_info_from_file(s.path, s.slide_id) for s in small_slides]
    slide = infos[0].slide_id
    records = [{"session": "r", "step": 0, "t": 100.0 + 0.15 * i, "kind": "tile",
                "url": traces.tile_url(slide, 10, i, 0)} for i in range(3)]
    for scale, spread in ((1.0, 0.3), (0.0, 0.0)):
        run = replay_session(server.url, sessions_of(records)["r"], concurrency=6,
                             time_scale=scale)
        starts = sorted(r["start"] for r in run.requests)
        assert run.errors == 0 and len(starts) == 3
        assert starts[1] - starts[0] >= 1000 * spread / 2 - 1
        assert starts[2] - starts[0] >= 1000 * spread - 1
        if not spread:  # all at once: none waits for the one before to be due
            assert starts[2] - starts[0] < 100
