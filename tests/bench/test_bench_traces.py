"""Viewing-session traces: valid JSONL of plausible DZI requests, as OpenSeadragon makes."""

import collections
import json
import re

import pytest

from wsi_blueprint.bench import traces
from wsi_blueprint.bench.replay import kind_of, sessions_of, slide_of

TILE = re.compile(r"^dzi/(.+)_files/(\d+)/(\d+)_(\d+)\.jpeg$")


@pytest.fixture(scope="module")
def infos(small_slides):
    return [traces.slide_info_from_file(s.path, s.slide_id) for s in small_slides]


def test_geometry_matches_the_server_arithmetic():
    g = traces.Geometry(40000, 30000, 240, 0)
    assert g.max_level == 16 and g.level_size(14) == (10000, 7500)
    assert g.grid(16) == (167, 125) and g.grid(0) == (1, 1)
    assert g.visible_tiles(16, 0, 0, 480, 240) == [(0, 0), (1, 0)]
    assert g.visible_tiles(15, -100, -100, 100, 100) == [(0, 0)]


def test_generated_trace_is_valid_jsonl_of_dzi_urls(infos, tmp_path):
    records = traces.generate(infos, sessions=2, seed=3, profile=traces.QUICK)
    path = tmp_path / "trace.jsonl"
    traces.write_trace(str(path), records)
    lines = path.read_text().splitlines()
    assert len(lines) == len(records) > 50
    geometry = {i.slide_id: i.geometry for i in infos}
    per_session = collections.defaultdict(list)
    for line in lines:
        record = json.loads(line)
        per_session[record["session"]].append(record)
        assert record["slide"] in geometry
        if record["kind"] == "dzi":
            assert record["url"] == f"dzi/{record['slide']}.dzi"
            continue
        match = TILE.match(record["url"])
        assert match, record["url"]
        slide_id, level, col, row = match.group(1), *map(int, match.groups()[1:])
        g = geometry[slide_id]
        cols, rows = g.grid(level)
        assert slide_id == record["slide"] and level == record["level"]
        assert 0 <= level <= g.max_level and 0 <= col < cols and 0 <= row < rows
    assert set(per_session) == {"s1", "s2"}
    for items in per_session.values():
        urls = [r["url"] for r in items]
        assert len(urls) == len(set(urls))  # the browser caches: asked once a session
        assert items[0]["kind"] == "dzi"    # a viewer reads the descriptor first
        assert {r["slide"] for r in items} == set(geometry)  # the whole case is read
        actions = {r["action"] for r in items}
        assert {"open", "zoom-in", "pan"} <= actions
        # opening asks for the smallest levels first, a level-0 1x1 tile among them
        first_tiles = [r for r in items if r["step"] == 0 and r["kind"] == "tile"]
        assert first_tiles[0]["level"] == 0
        levels = [r["level"] for r in items if r["kind"] == "tile"]
        assert max(levels) == max(g.max_level for g in geometry.values()) or \
            max(levels) >= min(g.max_level for g in geometry.values()) - 1
        steps = [r["step"] for r in items]
        assert steps == sorted(steps)
        assert [r["t"] for r in items] == sorted(r["t"] for r in items)
    assert traces.read_trace(str(path)) == records


def test_same_seed_same_trace(infos):
    one = traces.generate(infos, 1, seed=9, profile=traces.QUICK)
    assert one == traces.generate(infos, 1, seed=9, profile=traces.QUICK)
    assert one != traces.generate(infos, 1, seed=10, profile=traces.QUICK)


def test_a_viewport_asks_for_about_a_screenful():
    info = traces.SlideInfo("s.svs", traces.Geometry(40000, 30000), [(20000, 15000)], (1, 4))
    import random
    viewer = traces.Viewer("s", random.Random(1))
    viewer.open(info)
    opening = [r for r in viewer.records if r["kind"] == "tile"]
    # home view: 40000 px on 1600 screen px -> level 11 (1250 px wide): 6 x 4 tiles,
    # and every coarser level (one tile each below level 9)
    assert max(r["level"] for r in opening) == 11
    assert sum(1 for r in opening if r["level"] == 11) == 6 * 4
    before = len(viewer.records)
    viewer.zoom_to(20000, 15000, 1.0)  # to 40x: one frame per factor of two
    zoom = viewer.records[before:]
    assert sorted({r["level"] for r in zoom})[-1] == 16
    at_full = {r["url"] for r in zoom if r["level"] == 16}
    # the last view, 1600 x 900 screen pixels at 1:1 over 240-pixel tiles, is all there
    final = info.geometry.visible_tiles(16, 19200, 14550, 20800, 15450)
    assert 7 * 4 <= len(final) <= 8 * 5
    assert {traces.tile_url("s.svs", 16, c, r) for c, r in final} <= at_full
    # and the frame before (2 image pixels a screen pixel) already drew level 16
    assert len(at_full) > len(final)


def test_recorded_logs_group_into_steps():
    log = [{"t": 100.0, "url": "dzi/a.svs.dzi"},
           {"t": 100.05, "url": "dzi/a.svs_files/9/0_0.jpeg"},
           {"t": 100.06, "url": "dzi/a.svs_files/10/0_0.jpeg"},
           {"t": 103.0, "url": "dzi/a.svs_files/12/1_0.jpeg"},
           {"t": 103.1, "url": "dzi/a.svs_files/12/2_0.jpeg", "session": "x"}]
    sessions = sessions_of(log)
    assert list(sessions) == ["s1", "x"]
    steps = sessions["s1"]
    assert [len(s.requests) for s in steps] == [3, 1]
    assert steps[0].action == "open" and steps[0].slide == "a.svs"
    assert kind_of(log[0]) == "dzi" and kind_of(log[1]) == "tile"
    assert slide_of({"url": "dzi/cases/42/A%201.svs_files/1/0_0.jpeg"}) == "cases/42/A 1.svs"



def test_a_screening_read_sweeps_the_tissue_in_rows():
    """East along a row, a screen down, west along the next: every pan moves most of a screen
    along a row or down, and the heading flips at each row's end."""
    import random

    class Recording(traces.Viewer):
        centres: list

        def pan_to(self, x, y, action="pan", frames=2):
            super().pan_to(x, y, action, frames)
            self.centres.append((self.cx, self.cy, self.z))

    tissue = [(x, y) for x in range(4000, 36000, 500) for y in range(6000, 20000, 500)]
    info = traces.SlideInfo("s.svs", traces.Geometry(40000, 30000), tissue, (1, 4, 16))
    profile = traces.Profile(style="screen", think=(0.5, 1.0), slides=1, screens=40)
    viewer = Recording("s", random.Random(2))
    viewer.centres = []
    traces._screen_slide(viewer, info, profile)
    assert 10 <= len(viewer.centres) <= profile.screens - 1
    assert max(y for _, y, _ in viewer.centres) <= 20000  # the sweep stays on the tissue
    z = viewer.centres[0][2]
    across, down = 0.85 * viewer.vw * z, 0.85 * viewer.vh * z
    headings = []
    for (x0, y0, _), (x1, y1, _) in zip(viewer.centres, viewer.centres[1:]):
        if y1 > y0:
            assert (x1 - x0, y1 - y0) == pytest.approx((0, down))
            headings.append("down")
        else:
            assert abs(x1 - x0) == pytest.approx(across) and y1 == y0
            headings.append("east" if x1 > x0 else "west")
    rows = " ".join(headings).split("down")
    assert len(rows) >= 3  # at least three rows swept
    row_headings = [set(row.split()) for row in rows if row.split()]
    assert all(len(h) == 1 for h in row_headings)  # one heading a row...
    assert all(a != b for a, b in zip(row_headings, row_headings[1:]))  # ...flipping each row
    records = traces.generate_session("s", [info], 2, profile)
    assert records[0]["kind"] == "dzi" and {r["action"] for r in records} >= {"open", "pan"}
