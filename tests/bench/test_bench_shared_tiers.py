"""The shared-tier benchmark, briefly: every tier measured over its own real server, every
hit checked against what was stored."""

from wsi_blueprint.bench import shared_tiers


def test_every_tier_and_operation_is_measured_on_values_read_back_whole():
    rows = shared_tiers.run([4096, 300_000], calls=20)
    measured = {(r["tier"], r["bytes"], r["operation"]) for r in rows}
    operations = ["set", "get hit", "get miss", f"get_many of {shared_tiers.BATCH}"]
    assert measured == {(tier, size, operation) for tier in shared_tiers.TIERS
                        for size in (4096, 300_000) for operation in operations}
    assert all(0 < r["median_us"] <= r["p90_us"] for r in rows)
    table = shared_tiers.to_markdown(rows)
    assert all(tier in table for tier in shared_tiers.TIERS) and "292 KiB" in table
