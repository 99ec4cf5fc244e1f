from helpers import testdata_path
from wsi_blueprint.bench.regions import compare


def test_region_comparison_runs_on_a_real_slide():
    rows = compare(testdata_path("CMU-1-Small-Region.svs"), regions=3)
    assert [row["scale"] for row in rows] == ["1:1", "4:1"]
    assert all(row["ours_ms"] > 0 and row["openslide_ms"] > 0 for row in rows)
