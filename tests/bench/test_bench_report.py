"""The report: markdown tables and PNG plots from a run's results."""

import json

import pytest

from wsi_blueprint.bench.report import headline, write_report


def _phase(latencies, store_requests, ttft):
    return {"latencies": latencies, "ttft": ttft, "views": [50.0, 80.0], "errors": 0,
            "requests": len(latencies), "seconds": 1.5, "truncated": False,
            "store": {"requests": store_requests, "bytes": store_requests * 262144, "kinds": {}},
            "cache_ratios": {"tiles": {"hits": 8.0, "misses": 2.0, "tiers": {"l1": 6.0,
                                                                               "l2": 2.0}}},
            "failures": []}


def _results():
    sessions = [{"session": "s1", "cold": _phase([float(i) for i in range(1, 101)], 40, [300.0]),
                 "warm": _phase([2.0] * 100, 0, [8.0])}]
    load = {"tool": "wrk", "requests": 1000, "seconds": 2.0, "rps": 500.0, "errors": 0,
            "p50_ms": 3.0, "p99_ms": 20.0, "exhausted": False,
            "store": {"requests": 0, "bytes": 0}}
    return {
        "started": "2024-01-01T00:00:00", "seconds": 42.0, "command": "wsi-blueprint bench",
        "machine": {"cores": 2, "platform": "test", "python": "3", "versions": {}},
        "config": {"quick": True, "sessions": 1, "concurrency": 6, "latency_ms": 40,
                   "bandwidth_mbps": 100, "workers": 2, "memcached": True, "load_seconds": 2,
                   "connections": 16, "time_scale": 0, "peers": ["openslide"],
                   "prices": {"cost_per_1000_requests": 0.005, "cost_per_gb": 0.09}},
        "slides": [{"slide_id": "a.svs", "width": 4000, "height": 3000, "size": 10 ** 6,
                    "native": [1, 4], "tile_size": 240}],
        "pixels": "test", "trace": {"path": "trace.jsonl", "sessions": 1, "requests": 101},
        "notes": ["a note"],
        "targets": {
            "wsi_blueprint": {"description": "ours", "uses_store": True, "sessions": sessions,
                              "throughput": {"cached": load, "derived": {**load, "rps": 90.0,
                                                                          "exhausted": True}}},
            "openslide": {"description": "peer", "uses_store": False, "sessions": sessions,
                          "throughput": {"cached": load}},
            "tiffslide": {"skipped": "not installed", "description": "not installed"},
        }}


def test_headline_figures():
    rows = {r["server"]: r for r in headline(_results())}
    ours = rows["wsi_blueprint"]
    assert ours["cold_p50"] == pytest.approx(50.5) and ours["cold_p99"] == pytest.approx(99.01)
    assert ours["warm_p50"] == 2.0 and ours["ttft_cold"] == 300.0
    assert ours["store_requests_cold"] == 40 and ours["store_requests_warm"] == 0
    assert ours["rps_cached"] == 500.0 and ours["rps_derived_lower_bound"]
    assert rows["openslide"]["store_requests_cold"] is None
    assert rows["tiffslide"]["skipped"] == "not installed"


def test_store_priced_per_session_at_the_run_prices():
    results = _results()
    ours = {r["server"]: r for r in headline(results)}["wsi_blueprint"]
    # cold: 40 requests of 256 KiB each, at $0.005 per 1,000 requests and $0.09 per GB
    assert ours["store_dollars_cold"] == pytest.approx(40 * 0.005 / 1000
                                                       + 40 * 262144 * 0.09 / 1e9)
    assert ours["store_dollars_warm"] == 0
    assert {r["server"]: r for r in headline(results)}["openslide"]["store_dollars_cold"] is None
    del results["config"]["prices"]  # results of a run that did not record them: the defaults
    ours = {r["server"]: r for r in headline(results)}["wsi_blueprint"]
    assert ours["store_dollars_cold"] == pytest.approx(40 * 0.0004 / 1000)


def test_report_writes_markdown_json_and_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    paths = write_report(_results(), str(tmp_path))
    text = (tmp_path / "report.md").read_text()
    assert "| server | cold p50 |" in text and "| wsi_blueprint | 50.5 |" in text
    assert "≥90" in text and "skipped: not installed" in text
    assert "tiles 80% (l1 60%, l2 20%)" in text
    # $ per 1,000 cold sessions: 1,000 x (40 x $0.000005 + 10.49 MB x $0.09/GB) = $1.144
    assert "| 40 | 10.49 | $1.144 | 0 | 500 |" in text
    assert "store prices: $0.005 per 1,000 GET requests, $0.09 per GB" in text
    assert "![latency_cdf.png](latency_cdf.png)" in text
    for name in ("latency_cdf.png", "store_per_session.png", "throughput.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["headline"][0]["server"] == "wsi_blueprint"
    assert len(paths["plots"]) == 3
