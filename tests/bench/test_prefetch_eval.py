"""The prefetch evaluation end to end on the quick case: prefetch off against on, against the
real server, memcached and the simulated S3, and the report it writes."""

import json
import os

from wsi_blueprint.bench import prefetch_eval


def test_prefetch_eval_end_to_end(tmp_path):
    # Reads of one block: units of a megabyte would bring slides this small in whole on the
    # first demand reads, leaving prefetch nothing to do. Looks a fifth as long (0.1-0.4 s) still
    # leave prefetch pauses to work in.
    results = prefetch_eval.run(1, quick=True, time_scale=0.2, max_seconds=60,
                                out=str(tmp_path), style="explore",
                                server_env={"WSI_PREFETCH_READ_SIZE": "256K"})
    assert json.loads((tmp_path / "prefetch-explore.json").read_text()) == json.loads(
        json.dumps(results))
    off, on = ((mode["mode"], mode["sessions"][0]) for mode in results["modes"])
    assert off[0] == "off" and on[0] == "on"
    off, on = off[1], on[1]
    for row in (off, on):
        assert row["errors"] == 0 and row["tiles"] == on["tiles"] > 0
        assert row["store_requests"] > 0
        # not pinned: the workers may run on every CPU this process may
        assert row["cpus"] == ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert off["prefetch_bytes"] == 0 and off["by_reason"] == {}
    # With prefetch on, every prefetched byte is counted under the predictor that asked.
    assert on["prefetch_bytes"] > 0
    assert sum(r["bytes"] for r in on["by_reason"].values()) == on["prefetch_bytes"]
    assert sum(r["used"] for r in on["by_reason"].values()) == on["prefetch_used_bytes"]
    # ... and the store requests it made beside them, and its work dropped or cancelled
    assert all(r["requests"] >= 1 for r in on["by_reason"].values() if r["bytes"])
    assert all(r["dropped"] >= 0 and r["cancelled"] >= 0 for r in on["by_reason"].values())
    assert 0 <= on["waste_share"] < 1
    # The render floor: every block the session read is in memcached, no tile is.
    assert on["floor_p95"] >= on["floor_p50"] > 0 and on["floor_cached_share"] == 1
    assert "floor_p95" not in off
    text = (tmp_path / "prefetch-explore.md").read_text()
    assert "| on | s1 |" in text and "| off | s1 |" in text
    assert f"| {on['floor_p50']:.1f} / {on['floor_p95']:.1f} |" in text
    for reason, figures in on["by_reason"].items():
        assert f"| {reason} | {figures['bytes'] / 1e6:.1f} |" in text
        assert text.split(f"| {reason} |")[-1].split("\n")[0].endswith(
            f" {figures['requests']:.0f} | {figures['dropped']:.0f} | "
            f"{figures['cancelled']:.0f} |")
