import collections

import pytest

from wsi_blueprint.accounting import CostModel
from wsi_blueprint.counters import Counters
from wsi_blueprint.prefetch.policy import parse_policies, policy_for


def test_a_session_keeps_its_policy_and_shares_are_kept():
    shares = parse_policies("off:20,viewport:30,full:50")
    assert [policy_for("session-42", shares) for _ in range(5)] == [policy_for("session-42",
                                                                               shares)] * 5
    counts = collections.Counter(policy_for(f"s{i}", shares) for i in range(20_000))
    assert abs(counts["off"] / 20_000 - 0.2) < 0.02
    assert abs(counts["viewport"] / 20_000 - 0.3) < 0.02
    assert abs(counts["full"] / 20_000 - 0.5) < 0.02


def test_changing_shares_moves_few_sessions():
    before = parse_policies("off:50,full:50")
    after = parse_policies("off:40,full:60")
    moved = sum(policy_for(f"s{i}", before) != policy_for(f"s{i}", after) for i in range(10_000))
    assert moved / 10_000 < 0.12  # only the 10 % whose bucket changed hands


@pytest.mark.parametrize("text", ["bogus:10", "off:x", "off:-1", "off:0", ""])
def test_bad_shares_are_refused(text):
    with pytest.raises(ValueError, match="WSI_PREFETCH_POLICIES"):
        parse_policies(text)


def test_costs_follow_the_counters():
    counters = Counters()
    CostModel(per_1000_requests=0.4, per_gb=0.09).attach(counters)
    counters.inc("store_requests", 1000)
    counters.inc("store_bytes", 2e9)
    counters.inc("prefetch_store_requests", 250, policy="full")
    assert counters.get("store_cost_dollars", purpose="all") == pytest.approx(0.4 + 0.18)
    assert counters.get("store_cost_dollars", purpose="prefetch") == pytest.approx(0.1)


def test_ab_split_is_stable_per_session_and_its_metrics_add_up(tmp_path):
    from wsi_blueprint.app import create_app
    from wsi_blueprint.protocols.context import EXTENSION
    from wsi_blueprint.sample import write_sample

    write_sample(str(tmp_path / "s.tiff"), 2048, 1536)
    app = create_app({"WSI_STORE": f"file://{tmp_path}",
                      "WSI_PREFETCH_POLICIES": "off:50,full:50", "WSI_BLOCK_SIZE": "16K",
                      "WSI_PREFETCH_READ_SIZE": "16K"})
    client = app.test_client()
    state = app.extensions[EXTENSION]["wsi"]
    shares = parse_policies("off:50,full:50")
    sessions = [f"viewer-{i}" for i in range(12)]
    expected = {s: policy_for(s, shares) for s in sessions}
    assert set(expected.values()) == {"off", "full"}
    for session in sessions:
        for col in range(3):
            response = client.get(f"/dzi/s.tiff_files/11/{col}_0.jpeg",
                                  headers={"X-WSI-Session": session})
            assert response.status_code == 200
    state.prefetcher.drain()
    by_policy = {p: state.counters.get("tile_requests", policy=p) for p in ("off", "full")}
    assert sum(by_policy.values()) == 36
    assert by_policy == {p: 3 * list(expected.values()).count(p) for p in ("off", "full")}
    assert state.counters.get("prefetch_jobs", policy="off") == 0
    assert state.counters.get("prefetch_jobs", policy="full") > 0
    text = client.get("/metrics").get_data(as_text=True)
    assert 'wsi_tile_requests_total{policy="full"' in text
    assert 'wsi_request_duration_seconds_count{endpoint="dzi_tile",policy="off"' in text
