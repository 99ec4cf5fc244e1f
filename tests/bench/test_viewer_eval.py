"""The browser benchmark's figures, from its sessions' records."""

import concurrent.futures

from live_server import LiveServer
from wsi_blueprint.bench import coverage, traces, viewer_eval
from wsi_blueprint.sample import write_sample


def _run(tile_ms, store_waits, moves, store_requests=10, prefetched=0.0, used=0.0,
         by_reason=None):
    return {"tiles": [{"ms": ms, "store": i < store_waits} for i, ms in enumerate(tile_ms)],
            "moves": [{"move": kind, "ms": ms, "after_animation_ms": after}
                      for kind, ms, after in moves],
            "store_requests": store_requests, "store_bytes": 2e6,
            "prefetch_bytes": prefetched, "prefetch_used_bytes": used,
            "by_reason": by_reason or {}}


def _reason(fetched, used, requests):
    return {"bytes": fetched, "used": used, "requests": requests, "dropped": 0.0,
            "cancelled": 0.0}


def test_figures_pool_the_sessions_and_count_what_was_drawn_after_the_animation():
    runs = [_run([10.0] * 16 + [200.0] * 4, 2,
                 [("zoom in", 1200.0, 0.0), ("jump", 1500.0, 300.0)],
                 prefetched=4e6, used=3e6),
            _run([10.0] * 20, 0, [("zoom in", 1210.0, 0.0), ("drag", 500.0, 0.0)],
                 store_requests=30, prefetched=1e6, used=1e6)]
    figures = viewer_eval.summary(runs)
    assert figures["runs"] == 2 and figures["tiles"] == 40
    assert figures["store_wait_share"] == 0.05
    assert figures["tile_p50"] == 10.0 and figures["tile_p95"] == 200.0
    assert figures["moves"] == 4 and figures["after_share"] == 0.25
    assert abs(figures["after_p95"] - 0.85 * 300.0) < 1e-9  # interpolated, as every p95
    assert figures["by_move"]["zoom in"]["moves"] == 2
    assert figures["by_move"]["zoom in"]["after_share"] == 0.0
    assert figures["by_move"]["jump"]["after_p50"] == 300.0
    assert figures["store_requests"] == 40 and figures["store_mb"] == 4.0
    assert figures["prefetch_mb"] == 5.0 and abs(figures["waste_share"] - 0.2) < 1e-9


def test_the_table_has_a_row_a_mode_and_no_bytes_prefetched_with_prefetch_off():
    on = viewer_eval.summary([_run([10.0] * 20, 1, [("zoom in", 1200.0, 0.0)], prefetched=1e6,
                                   used=5e5)])
    off = viewer_eval.summary([_run([10.0] * 20, 4, [("zoom in", 1200.0, 40.0)])])
    table = viewer_eval.to_markdown({"modes": {"on": on, "off": off}})
    rows = table.splitlines()
    assert len(rows) == 4 and rows[0].startswith("| prefetch |")
    assert rows[2].startswith("| on | 20 | 5.0 % |") and "| 50 % |" in rows[2]
    assert rows[3].startswith("| off | 20 | 20.0 % |") and "| 100 %, 40 |" in rows[3]
    assert rows[3].endswith("| 0.0 | - % |")


def test_prefetched_bytes_are_pooled_and_tabled_by_predictor_with_prefetch_on():
    """Which predictor fetched what the browser's viewer never used: each session's figures
    by predictor, summed over the sessions, the most bytes first."""
    on = viewer_eval.summary([
        _run([10.0] * 20, 0, [("zoom in", 1200.0, 0.0)], prefetched=5e6, used=3e6,
             by_reason={"zoom_frame": _reason(4e6, 2e6, 2), "drag": _reason(1e6, 1e6, 1)}),
        _run([10.0] * 20, 0, [("jump", 1300.0, 0.0)], prefetched=2e6, used=1.5e6,
             by_reason={"zoom_frame": _reason(2e6, 1.5e6, 1)})])
    assert on["by_reason"]["zoom_frame"]["bytes"] == 6e6
    assert on["by_reason"]["zoom_frame"]["used"] == 3.5e6
    assert on["by_reason"]["drag"]["requests"] == 1
    rows = viewer_eval.to_markdown({"modes": {"on": on}}).splitlines()
    predictors = rows[rows.index("| predictor | MB | never used | store requests | dropped | "
                                 "cancelled |") + 2:]
    assert predictors == ["| zoom_frame | 6.0 | 42 % | 3 | 0 | 0 |",
                          "| drag | 1.0 | 0 % | 1 | 0 | 0 |"]


def run_session(*args, **kwargs) -> dict:
    """`viewer_eval.run_session` in a thread of its own: it starts Playwright's sync API,
    which refuses a thread where another test's browser (conftest's) already runs its loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(viewer_eval.run_session, *args, **kwargs).result()


def test_a_sessions_tile_requests_become_trace_records_the_replay_reads():
    g = traces.Geometry(4096, 3072, 256, 0)
    info = traces.SlideInfo("a/b.tiff", g, [])
    coarse, fine = g.max_level - 4, g.max_level - 1
    origin = "http://127.0.0.1:5000/"
    sent = [{"t": 0.01, "url": origin + traces.tile_url("a/b.tiff", coarse, 0, 0), "step": 0,
             "action": "open"},
            {"t": 2.5, "url": origin + traces.iiif_tile_url("a/b.tiff", g, fine, 1, 2)
             + "?session=x", "step": 1, "action": "zoom in"},
            {"t": 2.6, "url": origin + "iiif/3/a/b.tiff/full/!120,120/0/default.jpg",
             "step": 1, "action": "zoom in"}]
    records = viewer_eval.trace_of(sent, "builtin-7", info)
    assert [r["level"] for r in records] == [coarse, fine]  # a thumbnail is no grid tile
    assert [r["action"] for r in records] == ["open", "zoom-in"]
    assert [r["t"] for r in records] == [0.01, 2.5]
    assert records[1]["url"].startswith("iiif/3/a/b.tiff/") and \
        records[1]["url"].endswith("?session=x")
    assert coverage.tile_of(records[1], g) == (fine, 1, 2)
    assert coverage.tile_of(records[0], g) == (coarse, 0, 0)


def test_a_session_in_chromium_times_each_move_until_its_screen_is_drawn(tmp_path):
    """Three moves of the benchmark's session against the real server, on a screen of its
    own: each is timed from the page's own marks (the animation's end, the screen fully
    drawn), and each tile's time in the browser is kept."""
    write_sample(str(tmp_path / "sample.tiff"), 4096, 3072)
    info = traces.slide_info_from_file(str(tmp_path / "sample.tiff"))
    with LiveServer(tmp_path, workers=1) as server:
        session = run_session(server.url, "sample.tiff", info.tissue, 3, seed=2,
                              screen=(1024, 768))
    assert session["screen"] == [1024, 768]
    assert session["tiles_per_frame"] == 3  # the viewer page's own setting
    assert len(session["moves"]) == 3
    for move in session["moves"]:
        assert move["move"] in ("zoom in", "zoom out", "drag", "jump")
        # An animated move takes OpenSeadragon's 1.2 s, less when a zoom is cut short by the
        # slide's edge; what is drawn after it is part of the whole.
        assert 100 < move["ms"] < 30_000
        assert 0 <= move["after_animation_ms"] <= move["ms"]
    assert len(session["tiles"]) > 10
    assert all(tile["ms"] > 0 and isinstance(tile["store"], bool) for tile in session["tiles"])
    # Every tile request as sent, with its move: the opening's (0), then the moves'.
    sent = session["sent"]
    assert len(sent) >= len(session["tiles"]) and sent[0]["step"] == 0
    assert {r["step"] for r in sent} <= {0, 1, 2, 3} and max(r["step"] for r in sent) >= 1
    assert [r["t"] for r in sent] == sorted(r["t"] for r in sent)
    records = viewer_eval.trace_of(sent, "builtin-2", info)
    assert len(records) == len(sent)
    assert all(coverage.tile_of(r, info.geometry)[0] == r["level"] for r in records)


def test_a_session_in_mirador_makes_the_same_moves_on_iiif_tiles(tmp_path):
    """The same session in stock Mirador: its OpenSeadragon is driven and timed as the
    built-in page's (zooms by the wheel: Mirador turns click-to-zoom off), the tiles kept are
    its IIIF Image API 3 requests, the zoomed-in levels' among them, and OpenSeadragon
    settings given reach Mirador's viewer."""
    write_sample(str(tmp_path / "sample.tiff"), 4096, 3072)
    info = traces.slide_info_from_file(str(tmp_path / "sample.tiff"))
    with LiveServer(tmp_path, workers=1) as server:
        session = run_session(server.url, "sample.tiff", info.tissue, 3, seed=2,
                              screen=(1024, 768),
                              viewer=viewer_eval.Viewer("mirador", {"maxTilesPerFrame": 2}))
    assert session["tiles_per_frame"] == 2  # Mirador's own is OpenSeadragon's default, 1
    assert len(session["moves"]) == 3
    assert "zoom in" in [move["move"] for move in session["moves"]]
    for move in session["moves"]:
        assert 100 < move["ms"] < 30_000
        assert 0 <= move["after_animation_ms"] <= move["ms"]
    assert len(session["tiles"]) > 10
    assert all(tile["ms"] > 0 for tile in session["tiles"])


def test_a_warm_replay_reading_what_the_cold_one_prefetched_has_no_waste_figure():
    warm = viewer_eval.summary([_run([10.0] * 20, 0, [("zoom in", 1200.0, 0.0)],
                                     prefetched=3e5, used=6e5)])
    assert warm["waste_share"] is None and warm["prefetch_mb"] == 0.3
