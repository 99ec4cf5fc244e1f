"""The control evaluation end to end on the small slides: eviction policies, prefetch under load
and store cost, against the real server, memcached and the simulated S3."""

import dataclasses
import json

import pytest

from wsi_blueprint.bench import control_eval, traces

# Small enough to finish in well under a minute, small caches so that blocks are evicted.
TINY = dataclasses.replace(control_eval.QUICK, viewers=2, stagger=1, one_off_per_round=15,
                           block_cache="512K", tile_cache="128K", memcached_mb=2, background=1,
                           probe_time_scale=0.2)
PRICES = {"cost_per_1000_requests": 0.005, "cost_per_gb": 0.09}


@pytest.fixture(scope="module")
def infos(small_slides):
    return [traces.slide_info_from_file(s.path, s.slide_id) for s in small_slides]


def test_mix_interleaves_arrivals_and_scan(infos):
    viewers = control_eval.viewer_sessions(infos, ["a", "b"], traces.QUICK)
    asked = {r["url"].split("?")[0] for steps in viewers.values() for step in steps
             for r in step.requests}
    scan = control_eval.one_off_tiles(infos, asked, seed=1)
    assert len(set(scan)) == len(scan) and not asked & set(scan)
    rounds = control_eval.mix(viewers, scan, stagger=3, per_round=4)
    views = [step for round_views, _ in rounds for step in round_views]
    # every view once, each viewer's in order; b arrives three rounds after a
    for name, steps in viewers.items():
        assert [s for s in views if s.session == name] == steps
    assert all(s.session == "a" for views, _ in rounds[:3] for s in views)
    assert [s.session for s in rounds[3][0]] == ["a", "b"]
    sent = [r["url"] for _, step in rounds if step for r in step.requests]
    assert sent == scan[:len(sent)] and len(sent) == min(len(scan), 4 * len(rounds))


def test_control_eval_end_to_end(small_slides, infos, tmp_path):
    results = control_eval.run(small_slides, TINY, str(tmp_path), PRICES, log=lambda m: None)
    assert json.loads((tmp_path / "control.json").read_text()) == json.loads(
        json.dumps(results))
    text = (tmp_path / "control.md").read_text()
    for heading in ("### Eviction", "### Demand latency under load", "### Store cost"):
        assert heading in text
    for label in ("| lru |", "| slru |", "| off |", "| on |"):
        assert label in text

    lru, slru = results["eviction"]
    assert (lru["policy"], slru["policy"]) == ("lru", "slru")
    for row in (lru, slru):
        assert row["errors"] == 0
        for cache in ("blocks", "tiles"):
            lookups = row["viewers"]["caches"][cache]
            assert lookups["hits"] + lookups["misses"] > 0
        assert row["one_off"]["tiles"] > 0
        # caches this small must evict: more bytes came from the store than the slides hold
        assert row["store_bytes"] > sum(s.size for s in small_slides)
    assert lru["viewers"]["tiles"] == slru["viewers"]["tiles"]
    assert lru["one_off"]["tiles"] == slru["one_off"]["tiles"]

    # the probe reads the case from its last slide
    probe = control_eval.viewer_sessions(infos[::-1], ["probe"], TINY.profile)["probe"]
    probe_tiles = sum(r["kind"] == "tile" for step in probe for r in step.requests)
    off, on = results["load"]
    assert (off["mode"], on["mode"]) == ("off", "on")
    for row in (off, on):
        assert row["probe"]["tiles"] == probe_tiles and row["probe"]["errors"] == 0
        assert row["all"]["errors"] == 0 and row["all"]["tiles"] > probe_tiles
        assert row["background_sessions"] >= 1 and row["background_tiles_per_second"] > 0
        assert row["sessions"] == row["background_sessions"] + 1
        # the price, worked out here from the store's own counts and the rates
        dollars = (row["store_requests"] * 0.005 / 1000 + row["store_bytes"] * 0.09 / 1e9)
        assert row["per_session"]["dollars"] == pytest.approx(dollars / row["sessions"])
        assert row["per_session"]["requests"] == row["store_requests"] / row["sessions"]
        # the server priced the traffic it made at the same rates
        assert row["server_dollars"]["all"] == pytest.approx(dollars, rel=0.1)
    assert off["server_dollars"]["prefetch"] == 0
