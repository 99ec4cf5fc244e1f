"""The render-burst floor end to end on the quick case: real server, no tile cache."""

import json
import os

import pytest

from wsi_blueprint.bench import render_burst


def test_render_burst_end_to_end(tmp_path):
    # Pinned to one CPU, then not pinned: the rows name the CPUs the workers really ran on.
    available = sorted(os.sched_getaffinity(0))
    one = str(available[-1])
    rows = render_burst.run(quick=True, screens=1, out=str(tmp_path), cores=[one, None])
    report = json.loads((tmp_path / "render-burst.json").read_text())
    assert report["levels"] == json.loads(json.dumps(rows))
    assert report["prefetch"] == "off"  # the default: the figures are the tiles' own
    assert [row["cpus"] for row in rows] == [one] * 4 + [",".join(map(str, available))] * 4
    levels = [row["level"] for row in rows]
    assert levels[:4] == list(range(levels[0], levels[0] - 4, -1)) and levels[4:] == levels[:4]
    # The finest level is stored, the next is made from it at half size.
    assert [row["tiles"] for row in rows[:2]] == ["stored", "resampled"]
    for row in rows:
        assert row["requests"] > 0 and row["tiles_per_second"] > 0
        assert row["p50"] <= row["p95"] <= row["p99"]
        # Measured is what the name says: every resampled tile rendered (no tile cache
        # answered it); stored ones passed through (but for edge tiles, transcoded).
        if row["tiles"] == "resampled":
            assert row["decoded_share"] == 1.0
        else:
            assert row["decoded_share"] < 0.5
        # The workers' CPU, read from /proc: rendering or passing through costs some.
        assert row["worker_cpu_ms"] > 0
        # A resampled level has the codecs' floor of its own tiles beside it, measured in the
        # same run; a passed-through tile decodes nothing, so has none.
        if row["tiles"] == "resampled":
            assert row["floor_ms"] > 0
            assert row["over_floor"] == pytest.approx(row["worker_cpu_ms"] / row["floor_ms"])
        else:
            assert row["floor_ms"] is None and row["over_floor"] is None
    text = (tmp_path / "render-burst.md").read_text()
    for row in rows:
        assert f"| {row['cpus']} | {row['level']} | 1/{row['scale']} | {row['tiles']} |" in text
        assert f"| {row['worker_cpu_ms']:.2f} |" in text
        if row["floor_ms"] is not None:
            assert f"| {row['floor_ms']:.2f} | {row['over_floor']:.2f}x |" in text


def test_cpus_the_machine_lacks_are_one_clear_error(capsys):
    with pytest.raises(SystemExit) as stop:
        render_burst.main(["--cores", "0", "4096"])
    assert stop.value.code == 2
    assert "4096" in capsys.readouterr().err


def test_render_burst_asks_for_the_same_tiles_as_iiif_ones(tmp_path):
    """`--protocol iiif`: the same screens as Mirador asks for them, every resampled tile
    rendered, every stored one passed through, on the IIIF route."""
    rows = render_burst.run(quick=True, screens=1, out=str(tmp_path), protocol="iiif")
    report = json.loads((tmp_path / "render-burst.json").read_text())
    assert report["protocol"] == "iiif" and len(rows) == 4
    assert [row["tiles"] for row in rows[:2]] == ["stored", "resampled"]
    for row in rows:
        assert row["requests"] > 0 and row["worker_cpu_ms"] > 0
        assert row["decoded_share"] == 1.0 if row["tiles"] == "resampled" else \
            row["decoded_share"] < 0.5
