"""The style evaluation's figures against the targets, from replayed sessions' rows."""

import json
import os

import pytest

from wsi_blueprint.bench import slidegen, style_eval, traces


def _row(latencies, store_waits, store_requests, prefetched=0.0, used=0.0, ahead=0.0,
         ahead_used=0.0, store_bytes=0.0):
    requests = [{"kind": "tile", "status": 200, "ms": ms, "store": i < store_waits,
                 "action": "pan", "timing": ""} for i, ms in enumerate(latencies)]
    requests.append({"kind": "dzi", "status": 200, "ms": 500.0, "store": True,
                     "action": "open", "timing": ""})  # descriptors are no tiles
    return {"requests": requests, "errors": 0, "store_requests": store_requests,
            "prefetch_bytes": prefetched, "prefetch_used_bytes": used,
            "read_ahead_bytes": ahead, "read_ahead_used_bytes": ahead_used,
            "store_bytes": store_bytes,
            "by_reason": {"pan_e": {"bytes": prefetched, "used": used}} if prefetched else {}}


def test_figures_pool_the_sessions_and_say_which_targets_hold():
    off = [_row([10.0] * 80 + [100.0] * 20, 20, 50), _row([10.0] * 100, 0, 50)]
    on = [_row([10.0] * 95 + [50.0] * 5, 5, 10, prefetched=4e6, used=3e6, ahead=4e6,
               ahead_used=1e6, store_bytes=30e6),
          _row([10.0] * 100, 0, 20, prefetched=1e6, used=1e6, store_bytes=10e6)]
    figures = style_eval.summary({"off": off, "on": on})
    assert figures["tiles"] == 200 and figures["sessions"] == 2
    assert figures["p95_off"] == 100.0 and figures["p95_on"] == 10.0
    assert figures["p95_ratio"] == 0.1
    assert figures["cached_share_off"] == 0.9 and figures["cached_share"] == 0.975
    assert figures["store_ratio"] == 0.3
    assert abs(figures["waste_share"] - 0.2) < 1e-9
    # What the read units brought counts in the share of all bytes fetched ahead, never in
    # the target's: (1 + 3) MB of (5 + 4) MB unused.
    assert figures["read_ahead_mb"] == 4.0
    assert abs(figures["all_waste_share"] - 4 / 9) < 1e-9
    assert figures["store_mb_off"] == 0.0 and figures["store_mb_on"] == 40.0
    assert figures["met"] == {"p95_ratio": True, "cached_share": True, "store_ratio": True,
                              "waste_share": True}
    worse = style_eval.summary({"off": off, "on": [_row([200.0] * 100, 50, 90, 1e6, 0.0)]})
    assert worse["met"] == {"p95_ratio": False, "cached_share": False, "store_ratio": False,
                            "waste_share": False}
    text = style_eval.to_markdown({"styles": {"pans": {"tuned": figures, "holdout": worse}}})
    assert "| pans | 2 | 200 | 100 -> 10 | 0.10 |" in text
    assert "| 5.0 | 20 % | 4.0 | 44 % | 0 -> 40 |" in text
    assert "| pans (hold-out) | 1 | 100 | 100 -> 200 | **2.00** |" in text


def _step(step, action, t, waited, tiles=4):
    """A step's tile requests as the replay records them, sent from 0.5 s past its trace time
    `t` (ms), as if the step before had held it back."""
    return [{"kind": "tile", "status": 200, "ms": 50.0 if i in waited else 5.0,
             "store": i in waited, "action": action, "step": step, "t": t / 1000,
             "start": t + 500 * (step % 2) + i, "timing": ""} for i in range(tiles)]


def test_waits_are_told_apart_by_the_move_and_its_first_round():
    """A zoom's frames an animation frame apart, a jump and the zoom into where it went, pans
    and zooms a pause apart: each tile that waited on the store counted with its move, and
    apart when it was in the move's first round (here the first two requests)."""
    session = (_step(0, "open", 0, waited=set())
               + _step(1, "zoom-in", 2000, waited={0, 1})       # a zoom's first frame
               + _step(2, "zoom-in", 2120, waited={3})          # its next frame
               + _step(3, "zoom-in", 2240, waited=set())        # and the one after
               + _step(4, "jump", 5000, waited=set())
               + _step(5, "zoom-in", 5120, waited={0})          # into where the jump went
               + _step(6, "scan", 7000, waited={1, 2})          # a pan at low power
               + _step(7, "zoom-in", 9000, waited={2})          # a zoom a pause later
               + _step(8, "zoom-out", 11000, waited=set()))
    moves = [kind for kind, _ in style_eval.moves_of(session[::-1])]  # in any order
    assert moves == ["open", "zoom in", "later frames", "later frames", "jump",
                     "after a jump", "pan", "zoom in", "zoom out"]
    found = style_eval.waits_by_move([session, _step(0, "pan", 0, waited={0})], 2)
    assert found["zoom in"] == {"tiles": 8, "waited": 3, "first_round": 2}
    assert found["later frames"] == {"tiles": 8, "waited": 1, "first_round": 0}
    assert found["after a jump"] == {"tiles": 4, "waited": 1, "first_round": 1}
    assert found["pan"] == {"tiles": 8, "waited": 3, "first_round": 2}
    assert found["open"]["waited"] == found["jump"]["waited"] == found["zoom out"]["waited"] == 0
    text = style_eval.moves_markdown({"styles": {"explore": {"tuned": {
        "waits_by_move": {"off": found, "on": found}}}}})
    assert "| style | open | zoom in | later frames | after a jump | pan | jump | zoom out |" \
        in text
    assert "| explore | 0 -> 0 of 4 (0) | 3 -> 3 of 8 (2) | 1 -> 1 of 8 (0) |" in text


def test_tuned_and_hold_out_sessions_are_different_readings():
    wide = traces.SlideInfo("w.svs", traces.Geometry(40000, 30000),
                            [(x, 15000) for x in range(5000, 35000, 500)], (1, 4, 16))
    found = style_eval.sessions_for([wide], "pans", True, 2, 1)
    assert sorted(found) == [("holdout", "s1"), ("tuned", "s1"), ("tuned", "s2")]
    urls = {key: [r["url"] for step in steps for r in step.requests]
            for key, steps in found.items()}
    assert urls[("holdout", "s1")] != urls[("tuned", "s1")]


def test_a_smaller_screen_asks_for_fewer_tiles_a_screen():
    wide = traces.SlideInfo("w.svs", traces.Geometry(40000, 30000),
                            [(x, 15000) for x in range(5000, 35000, 500)], (1, 4, 16))

    def tiles_per_step(viewport):
        steps = style_eval.sessions_for([wide], "zoom-steps", True, 1, 0, viewport)
        counts = [len(step.requests) for steps in steps.values() for step in steps]
        return sum(counts) / len(counts)

    assert tiles_per_step((1024, 768)) < 0.8 * tiles_per_step((1600, 900))


@pytest.mark.parametrize("text", ["1024", "1024x", "axb", "100x100", "1024x99999"])
def test_a_wrong_viewport_is_one_clear_error(text, capsys):
    with pytest.raises(SystemExit) as stop:
        style_eval.main(["--viewport", text])
    assert stop.value.code == 2
    assert "--viewport" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "300", "six"])
def test_a_wrong_connection_count_is_one_clear_error(value, capsys):
    with pytest.raises(SystemExit) as stop:
        style_eval.main(["--connections", value])
    assert stop.value.code == 2
    assert "--connections" in capsys.readouterr().err


def test_small_slides_are_the_small_case_in_either_layout(monkeypatch):
    cases = []
    monkeypatch.setattr(style_eval, "run", lambda *args, case, **kwargs: (
        cases.append(case), {"styles": {}})[1])
    style_eval.main(["--small-slides", "--layout", "pyramid"])
    style_eval.main([])
    assert cases == [slidegen.case_of("pyramid", True), slidegen.FULL_CASE]
    assert max(spec.width for spec in cases[0]) == 8000


def _figures(p95_off, p95_on):
    return style_eval.summary({"off": [_row([10.0] * 90 + [p95_off] * 10, 10, 50)],
                               "on": [_row([10.0] * 90 + [p95_on] * 10, 2, 10, 1e6, 8e5)]})


def test_the_scaling_table_gives_each_figure_on_each_set_of_cpus():
    by_cores = {"0": {"styles": {"pans": {"tuned": _figures(120.0, 60.0)}}},
                "0,1": {"styles": {"pans": {"tuned": _figures(60.0, 20.0)}}}}
    text = style_eval.scaling_markdown(by_cores)
    assert "Servers on CPUs 0 -> 0,1" in text
    assert "| pans | 120 -> 60 | 60 -> 20 | 0.50 -> 0.33 | 98 % -> 98 % | 0.20 -> 0.20 " \
           "| 20 % -> 20 % |" in text


def test_styles_replayed_on_each_set_of_cpus_in_turn(tmp_path):
    """Real servers pinned by taskset, the pinning read back from their workers."""
    available = sorted(os.sched_getaffinity(0))
    one, every = str(available[0]), ",".join(map(str, available))
    by_cores = style_eval.run_scaling(["pans"], [one, every], 1, 0, True, 0.2, 30,
                                      str(tmp_path), case=slidegen.QUICK_CASE)
    assert list(by_cores) == [one, every]
    for cpus, results in by_cores.items():
        assert results["cpus"] == cpus and results["worker_cpus"] == [cpus]
        figures = results["styles"]["pans"]["tuned"]
        assert figures["errors"] == 0 and figures["tiles"] > 0
        moves = figures["waits_by_move"]["on"].values()
        assert sum(m["tiles"] for m in moves) == figures["tiles"]
        assert sum(m["waited"] for m in moves) == round(
            (1 - figures["cached_share"]) * figures["tiles"])
        saved = json.loads((tmp_path / f"cpus-{cpus}" / "prefetch-styles.json").read_text())
        assert saved["styles"]["pans"]["tuned"]["tiles"] == figures["tiles"]
        assert saved["slides"] == {"case-quick/A1.svs": [8000, 6000],
                                   "case-quick/A2.svs": [6000, 4800]}
    table = (tmp_path / "prefetch-styles-scaling.md").read_text()
    assert f"Servers on CPUs {one} -> {every}" in table and "| pans |" in table


@pytest.mark.parametrize("value", ["one", "0,x", "4096", "0-4096"])
def test_a_wrong_cpu_list_is_one_clear_error(value, capsys):
    with pytest.raises(SystemExit) as stop:
        style_eval.main(["--cores", value])
    assert stop.value.code == 2
    assert "--cores" in capsys.readouterr().err


def test_a_recorded_trace_replays_live_as_the_style_trace(tmp_path):
    """`--trace`: a recorded session's requests against live servers, prefetch off and on,
    reported as the style "trace" with the same figures as a generated style's."""
    case = slidegen.case_of("aperio", True)
    slides, _ = slidegen.ensure_slides(case, None, None, lambda *a: None)
    infos = [traces.slide_info_from_file(s.path, s.slide_id) for s in slides]
    records = [r for r in traces.generate(infos[:1], 1, 5, traces.quick(traces.STYLES["pans"]))
               if r["step"] < 6]
    for n, record in enumerate(records):  # a browser's requests carry their own times
        record["t"] = round(record["t"] + 0.002 * n, 3)
    path = tmp_path / "trace.jsonl"
    traces.write_trace(str(path), records)
    assert style_eval.main(["--small-slides", "--trace", str(path), "--time-scale", "0.2",
                            "--out", str(tmp_path / "out")]) == 0
    saved = json.loads((tmp_path / "out" / "prefetch-styles.json").read_text())
    assert list(saved["styles"]) == ["trace"]
    figures = saved["styles"]["trace"]["tuned"]
    tiles = sum(r.get("kind") == "tile" for r in records)
    assert figures["errors"] == 0 and figures["tiles"] == tiles and figures["sessions"] == 1
    assert figures["store_off"] > 0


@pytest.mark.parametrize("slide, told", [("elsewhere.svs", "elsewhere.svs"), (None, "no requests")])
def test_a_trace_the_live_replay_cannot_read_is_one_clear_error(tmp_path, capsys, slide, told):
    path = tmp_path / "trace.jsonl"
    path.write_text("" if slide is None else json.dumps(
        {"session": "b", "t": 0, "kind": "tile", "slide": slide,
         "url": traces.tile_url(slide, 3, 0, 0)}) + "\n")
    with pytest.raises(SystemExit) as stop:
        style_eval.main(["--small-slides", "--trace", str(path)])
    assert stop.value.code == 2
    assert told in capsys.readouterr().err
