"""`wsi-blueprint bench` end to end on small slides: every server, a short trace, the report."""

import json
import os

import pytest

from wsi_blueprint import cli
from wsi_blueprint.bench import traces
from wsi_blueprint.bench.peers import available


def test_bench_command_end_to_end(small_slides, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # A short recorded-style trace over the slides as the bench names them (file names).
    infos = [traces.slide_info_from_file(s.path, os.path.basename(s.path)) for s in small_slides]
    records = traces.generate(infos, 1, seed=4, profile=traces.QUICK)
    # the first slide only: on slides this small, its views cover every derived tile of it,
    # and the throughput run asks for derived tiles no session asked for (the second's)
    short = [r for r in records if r["slide"] == infos[0].slide_id][:150]
    trace = tmp_path / "short.jsonl"
    traces.write_trace(str(trace), short)
    peers = [p for p in ("openslide", "tiffslide-tuned")
             if available("openslide" if p == "openslide" else "tiffslide") is None]
    out = tmp_path / "report"
    status = cli.main(["bench", "--quick", "--slides", *[s.path for s in small_slides],
                       "--trace", str(trace), "--peers", ",".join(peers) or "none",
                       "--load-seconds", "1", "--connections", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["targets"]) == {"wsi_blueprint", *peers}
    ours = results["targets"]["wsi_blueprint"]
    cold, warm = ours["sessions"][0]["cold"], ours["sessions"][0]["warm"]
    assert cold["latencies"] and cold["ttft"] and cold["errors"] == 0
    assert cold["store"]["requests"] > 0 and warm["store"]["requests"] < cold["store"]["requests"]
    assert ours["throughput"]["cached"]["requests"] > 0
    assert ours["throughput"]["derived"]["requests"] > 0
    for peer in peers:
        assert results["targets"][peer]["sessions"][0]["cold"]["errors"] == 0
    # One pair a protocol: cached native tiles, as DZI and as IIIF tiles, against bare Flask.
    assert [hot["protocol"] for hot in results["hot_path"]] == ["dzi", "iiif"]
    text = (out / "report.md").read_text()
    for hot in results["hot_path"]:
        pair = hot["pairs"][0]
        # every request a cache hit, of tiles, not error pages
        assert hot["errors"] == 0 and hot["tile_misses"] == 0
        assert hot["tile_hits"] >= pair["cached"]["requests"] > 0 and hot["cached_rps"] > 0
        assert pair["ceiling"]["requests"] > 0 and hot["body_bytes_mean"] > 1000
        assert hot["ratio"] == hot["cached_rps"] / hot["ceiling_rps"]
        assert f"| {hot['protocol']} | all | {hot['cached_rps']:,.0f} |" in text
    assert "| wsi_blueprint |" in text and (out / "latency_cdf.png").exists()
    assert "## Hot path: cached tiles against the ceiling" in text
    assert (out / "trace.jsonl").read_text().count("\n") == len(short)
    assert "wsi_blueprint: tile ms cold p50/p95/p99" in printed
    # CPU per derived tile, in process, beside the codecs' floor: in the JSON, the report and
    # the command's output.
    derived = results["derived_cpu"]
    assert derived["tiles"] > 0 and derived["floor_ms"] > 0
    assert "## CPU per derived tile" in text and f"| {derived['ours_ms']:.2f} |" in text
    assert f"CPU per derived tile: {derived['ours_ms']:.2f} ms" in printed
    assert "hot path, dzi on CPUs all: cached tiles" in printed
    assert "hot path, iiif on CPUs all: cached tiles" in printed
