"""The deterministic coverage replay: the engine itself fed generated sessions, real slides in
a file store, a real memcached shared by the replay's workers."""

import dataclasses
import json
import random

import pytest

from wsi_blueprint.bench import coverage, traces
from wsi_blueprint.bench.prefetch_eval import profile_of
from wsi_blueprint.bench.replay import sessions_of
from wsi_blueprint.bench.services import Memcached


def test_a_tile_is_named_alike_by_dzi_and_iiif():
    geometry = traces.Geometry(10000, 7000, 512, 0)  # DZI levels 0-14
    for level, col, row in ((14, 3, 2), (13, 9, 6), (11, 1, 0), (9, 0, 0)):
        dzi = {"level": level, "url": traces.tile_url("a/b.tiff", level, col, row)}
        iiif = {"level": level, "url": traces.iiif_tile_url("a/b.tiff", geometry, level, col,
                                                             row)}
        assert coverage.tile_of(dzi, geometry) == (level, col, row)
        assert coverage.tile_of(iiif, geometry) == (level, col, row)
    assert "/full/" in traces.iiif_tile_url("a/b.tiff", geometry, 9, 0, 0)


def test_leases_are_timed_by_the_replays_clock():
    clock = coverage.Clock()
    leases = coverage.ClockLeases(clock)
    assert leases.take("frame-lease", "s1|4", 5)
    assert not leases.take("frame-lease", "s1|4", 5)
    assert leases.take("frame-lease", "s1|2", 5)  # another name
    clock.now = 5.0
    assert leases.take("frame-lease", "s1|4", 5)


def test_a_round_of_cached_tiles_moves_the_replays_clock_less_than_a_store_round_trip():
    """A round whose tiles are all cached is back in milliseconds: a step of many rounds (a
    large screen's) must end before the viewer's next move, or its burst runs into the next
    one's and the prefetcher sees neither end."""
    infos, folder, geometries = coverage.benchmark_case("aperio", True, lambda *a: None)
    records = traces.generate(infos, 1, 11, profile_of("explore", True))
    memcached = Memcached(memory_mb=64).start()
    try:
        replay = coverage.Replay(folder, geometries, 1, False, memcached)
        for step in next(iter(sessions_of(records).values())):
            began = max(replay.clock.now, step.t)
            rows = replay.run([step], 6, random.Random(1))
            if len(rows) > 6 and any(row["store"] for row in rows):
                break  # a step of several rounds, some of which waited on the store
        cold = replay.clock.now - began
        rounds = -(-len(rows) // 6)
        again = dataclasses.replace(step, t=replay.clock.now)
        rows = replay.run([again], 6, random.Random(1))
        assert not any(row["store"] for row in rows)
        warm = replay.clock.now - again.t
    finally:
        memcached.stop()
    assert rounds > 1 and warm == pytest.approx(rounds * coverage.CACHED_ROUND_SECONDS)
    assert cold > warm


def test_prefetch_spares_waits_and_a_second_run_says_the_same(tmp_path):
    out = tmp_path / "coverage.json"
    coverage.main(["--layout", "aperio", "--styles", "explore,mixed", "--sessions", "3",
                   "--quick", "--small-slides", "--out", str(out)])
    first = json.loads(out.read_text())["styles"]
    again = coverage.run("aperio", ["explore", "mixed"], 3, 11, True, small=True,
                         log=lambda *a: None)
    for style in ("explore", "mixed"):
        figures = first[style]
        assert figures["sessions"] == 3 and figures["tiles"] > 0
        assert figures["waited"]["on"] < figures["waited"]["off"] <= figures["tiles"]
        assert figures["store_requests"]["on"] < figures["store_requests"]["off"]
        # Prefetch on fetches what viewers read and more (of these small slides, nearly all).
        assert figures["store_mb"]["on"] >= figures["store_mb"]["off"] > 0
        moves = figures["waits_by_move"].values()
        assert sum(m["tiles"] for m in moves) == figures["tiles"]
        assert sum(m["waited"] for m in moves) == figures["waited"]["on"]
        # Unforeseen: not cached as the tile's step began. Every tile that waited was, and so
        # were those a zoom frame's first requests set fetching for the rest of the frame.
        unforeseen = figures["unforeseen"]
        assert figures["waited"]["on"] < unforeseen["on"] < unforeseen["off"]
        assert figures["waited"]["off"] <= unforeseen["off"] <= figures["tiles"]
        late = figures["unforeseen_by_move"].values()
        assert sum(m["waited"] for m in late) == unforeseen["on"]
        # The same sessions, shuffled and shared out the same way: the same tiles waited,
        # but for the prefetcher's jobs running on threads of their own.
        assert again[style]["tiles"] == figures["tiles"]
        assert again[style]["waited"]["off"] == figures["waited"]["off"]
        assert again[style]["unforeseen"]["off"] == unforeseen["off"]
        assert abs(again[style]["waited"]["on"] - figures["waited"]["on"]) <= 2


def test_a_trace_replays_as_the_sessions_it_records(tmp_path):
    """A trace file (as `viewer_eval --trace` writes a browser's) replays its own sessions:
    the generated sessions written out give the figures their style gives."""
    infos, _, _ = coverage.benchmark_case("aperio", True, lambda *a: None)
    records = [{**r, "session": f"s{n}"} for n in range(2)
               for r in traces.generate(infos, 1, 11 + n, profile_of("mixed", True))]
    path = tmp_path / "trace.jsonl"
    traces.write_trace(str(path), records)
    out = tmp_path / "coverage.json"
    coverage.main(["--layout", "aperio", "--small-slides", "--trace", str(path),
                   "--out", str(out)])
    replayed = json.loads(out.read_text())["styles"]["trace"]
    styled = coverage.run("aperio", ["mixed"], 2, 11, True, small=True,
                          log=lambda *a: None)["mixed"]
    assert replayed["sessions"] == 2 and replayed["tiles"] == styled["tiles"] > 0
    assert replayed["waited"]["off"] == styled["waited"]["off"]
    assert replayed["store_requests"]["off"] == styled["store_requests"]["off"]
    assert abs(replayed["waited"]["on"] - styled["waited"]["on"]) <= 2


def test_a_recorded_round_leaves_no_sooner_than_its_first_request_was_sent():
    """A browser's requests of one move are sent over its animation: the replay's clock
    follows them, so a move's later requests can end a burst as they would live."""
    infos, folder, geometries = coverage.benchmark_case("aperio", True, lambda *a: None)
    g = infos[0].geometry
    level = g.max_level - 2
    sent = [{"session": "b", "step": 1, "t": 0.2 * i, "action": "pan", "kind": "tile",
             "slide": infos[0].slide_id, "level": level,
             "url": traces.tile_url(infos[0].slide_id, level, i, 0)} for i in range(3)]
    memcached = Memcached(memory_mb=64).start()
    try:
        replay = coverage.Replay(folder, geometries, 1, False, memcached)
        rows = replay.run(next(iter(sessions_of(sent).values())), 1, random.Random(1))
    finally:
        memcached.stop()
    assert len(rows) == 3
    # The last round left at 0.4 s, then took at most a store round trip.
    assert 0.4 <= replay.clock.now <= 0.4 + coverage.ROUND_SECONDS


@pytest.mark.parametrize("slide, level, told", [("elsewhere.svs", 3, "elsewhere.svs"),
                                                 (None, None, "record 1"),
                                                 (None, "3", "record 1")])
def test_a_trace_the_replay_cannot_read_is_one_clear_error(tmp_path, capsys, slide, level,
                                                           told):
    """A trace of slides the case does not have, or a tile without its level: one line."""
    if slide is None:
        slide = coverage.benchmark_case("aperio", True, lambda *a: None)[0][0].slide_id
    record = {"session": "b", "t": 0, "kind": "tile", "slide": slide,
              "url": traces.tile_url(slide, 3, 0, 0)}
    if level is not None:
        record["level"] = level
    path = tmp_path / "trace.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(SystemExit) as exit:
        coverage.main(["--layout", "aperio", "--small-slides", "--trace", str(path)])
    assert exit.value.code == 2
    assert told in capsys.readouterr().err


def test_prefetched_bytes_are_told_by_the_predictor_that_asked_for_them():
    figures = coverage.run("pyramid", ["explore"], 2, 11, True, small=True,
                           log=lambda *a: None)["explore"]
    predictors = figures["by_predictor"]
    assert predictors.keys() & {"frame_now", "zoom_frame"}  # each session zooms in
    assert sum(p["prefetched_mb"] for p in predictors.values()) == \
        pytest.approx(figures["prefetched_mb"], abs=0.1 * len(predictors))
    assert all(0 <= p["never_used"] <= 1 for p in predictors.values())
    # Each asked the store at least once; viewers' reads (a slide's opening at least) did too.
    assert all(p["store_requests"] >= 1 for p in predictors.values())
    assert sum(p["store_requests"] for p in predictors.values()) < \
        figures["store_requests"]["on"]


def test_sessions_are_read_on_the_screen_asked_for(tmp_path):
    """A larger screen asks for more tiles a move: the same sessions on 3840 x 2160."""
    tiles = {}
    for viewport in ("1024x768", "3840x2160"):
        out = tmp_path / f"{viewport}.json"
        coverage.main(["--layout", "aperio", "--styles", "mixed", "--sessions", "1", "--quick",
                       "--small-slides", "--viewport", viewport, "--out", str(out)])
        written = json.loads(out.read_text())
        assert written["viewport"] == [int(side) for side in viewport.split("x")]
        tiles[viewport] = written["styles"]["mixed"]["tiles"]
    assert 0 < tiles["1024x768"] < tiles["3840x2160"]


@pytest.mark.parametrize("argv", [["--styles", "nope"], ["--sessions", "0"],
                                  ["--round", "0"], ["--viewport", "big"]])
def test_a_wrong_argument_is_one_clear_error(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        coverage.main(argv)
    assert exit.value.code == 2
    assert "error:" in capsys.readouterr().err
