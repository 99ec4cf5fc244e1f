"""Viewing-session traces: valid JSONL of plausible DZI requests, as OpenSeadragon makes."""

import collections
import math
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


# -- viewing styles the prefetcher was not built on ---------------------------------------------

WIDE = traces.SlideInfo(
    "w.svs", traces.Geometry(40000, 30000),
    [(x, y) for x in range(4000, 36000, 500) for y in range(4000, 26000, 500)], (1, 4, 16))


class Recording(traces.Viewer):
    """A viewer that notes (action, centre x, centre y, zoom) after each move."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moves = []

    def zoom_to(self, x, y, z, action="zoom"):
        super().zoom_to(x, y, z, action)
        self.moves.append((action, self.cx, self.cy, self.z))

    def pan_to(self, x, y, action="pan", frames=2):
        super().pan_to(x, y, action, frames)
        self.moves.append((action, self.cx, self.cy, self.z))


def _wander(style, seed):
    import random

    profile = traces.STYLES[style]
    viewer = Recording("s", random.Random(seed), blend=profile.blend, iiif=profile.iiif,
                       header=profile.header)
    traces._wander_slide(viewer, WIDE, profile)
    return viewer


def _steps(records):
    steps = collections.defaultdict(list)
    for r in records:
        if r["kind"] == "tile":
            steps[r["step"]].append(r)
    return steps


def test_every_style_is_generated_from_its_parameters_with_any_seed():
    for style, profile in traces.STYLES.items():
        one = traces.generate_session("s1", [WIDE], 1, profile)
        assert one == traces.generate_session("s1", [WIDE], 1, profile), style
        assert one != traces.generate_session("s1", [WIDE], 1009, profile), style
        assert sum(r["kind"] == "tile" for r in one) > 100, style


def test_a_viewer_without_a_session_header_sends_none():
    plain = traces.generate_session("s1", [WIDE], 3, traces.STYLES["no-header"])
    assert plain and all("headers" not in r for r in plain)
    for style in ("explore", "screen"):
        records = traces.generate_session("s1", [WIDE], 3, traces.STYLES[style])
        assert all(r["headers"] == {"X-WSI-Session": "s1"} for r in records)
    # the same reading otherwise: the same tiles in the same order
    explore = traces.generate_session("s1", [WIDE], 3, traces.STYLES["explore"])
    assert [r["url"] for r in plain] == [r["url"] for r in explore]


def test_blending_asks_the_coarser_level_with_every_screen():
    """Each screen asks for its level and the one under it, no coarser, in one queue nearest
    the centre first (so coarse tiles come after fine ones), not coarse level first."""
    records = traces.generate_session("s1", [WIDE], 4, traces.STYLES["blend"])
    plain = traces.generate_session("s1", [WIDE], 4, traces.STYLES["explore"])
    interleaved = 0
    for tiles in _steps(records).values():
        levels = [r["level"] for r in tiles]
        assert set(levels) <= {max(levels), max(levels) - 1}
        interleaved += levels != sorted(levels)
    assert interleaved >= len(_steps(records)) // 3
    for tiles in _steps(plain).values():  # OpenSeadragon without blending: coarse first
        assert [r["level"] for r in tiles] == sorted(r["level"] for r in tiles)
    # a screen asks for the coarser level wherever the browser has not got it yet
    with_coarser = [s for s in _steps(records).values()
                    if len({r["level"] for r in s}) == 2]
    assert len(with_coarser) >= len(_steps(records)) // 3


def test_zoom_steps_go_one_level_at_a_time_into_new_places():
    for seed in (1, 2, 3):
        viewer = _wander("zoom-steps", seed)
        zooms = [(a, b) for a, b in zip(viewer.moves, viewer.moves[1:]) if b[0] == "zoom-in"]
        assert len(zooms) >= 4
        screen_w = viewer.vw
        moved = 0
        for (_, x0, y0, z0), (_, x1, y1, z1) in zooms:
            assert z1 == pytest.approx(z0 / 2)  # one level a step
            # about the pointer: the centre moves up to half way to the screen's edge
            assert abs(x1 - x0) <= 0.25 * screen_w * z0 + 1
            moved += (x1 - x0) ** 2 + (y1 - y0) ** 2 > (0.05 * screen_w * z0) ** 2
        assert moved >= len(zooms) * 2 // 3  # most land somewhere new
        # and each step is one frame: one request step at the next finer level
        records = viewer.records
        steps = _steps(records)
        zoom_steps = sorted({r["step"] for r in records if r["action"] == "zoom-in"})
        assert len(zoom_steps) >= len(zooms)
        assert all(zoom["action"] for zoom in steps[zoom_steps[-1]])


def test_pans_are_a_third_to_a_half_of_a_screen_and_turn():
    import math

    turns = pans = 0
    for seed in (1, 2, 3):
        viewer = _wander("pans", seed)
        headings = []
        for (_, x0, y0, z0), (action, x1, y1, z1) in zip(viewer.moves, viewer.moves[1:]):
            if action != "pan" or z1 != z0:
                continue
            dx, dy = (x1 - x0) / (viewer.vw * z0), (y1 - y0) / (viewer.vh * z0)
            length = math.hypot(dx, dy)
            clamped = not (0 < x1 < WIDE.geometry.width and 0 < y1 < WIDE.geometry.height)
            assert clamped or 0.3 - 1e-9 <= length <= 0.5 + 1e-9
            pans += 1
            headings.append(math.atan2(dy, dx))
        turns += sum(abs(math.remainder(b - a, 2 * math.pi)) > math.pi / 4
                     for a, b in zip(headings, headings[1:]))
    assert pans >= 30 and pans // 5 <= turns <= pans * 4 // 5


def test_mirador_asks_for_the_tiles_info_json_advertises():
    from wsi_blueprint.protocols.iiif import IiifTiling
    from wsi_blueprint.protocols.iiif_request import Limits, parse_request

    g = WIDE.geometry
    records = traces.generate_session("s1", [WIDE], 5, traces.STYLES["mirador"])
    assert records[0]["kind"] == "dzi" and records[0]["url"] == "iiif/3/w.svs/info.json"
    tiling = IiifTiling(g.width, g.height, g.tile_size, "jpeg", 80)
    tiles = [r for r in records if r["kind"] == "tile"]
    assert len(tiles) > 100
    for record in tiles:
        match = re.match(r"^iiif/3/w\.svs/([^/]+)/([^/]+)/0/default\.jpg$", record["url"])
        assert match, record["url"]
        req = parse_request(match.group(1), match.group(2), "0", "default", "jpg", g.width,
                            g.height, 3, Limits(10000, 10000, 10 ** 8)).region(80)
        assert tiling.names(req), record["url"]  # on the advertised grid: rendered ahead
    # the same reading as a DZI viewer's, tile for tile, above IIIF's coarsest scale factor
    dzi = traces.generate_session("s1", [WIDE], 5, traces.STYLES["explore"])
    coarsest = g.max_level - int(math.log2(traces.iiif_scale_factors(g)[-1]))
    assert [r["level"] for r in tiles] == [r["level"] for r in dzi
                                           if r["kind"] == "tile" and r["level"] >= coarsest]


def test_mixed_sessions_have_every_trait_at_once():
    records = traces.generate_session("s1", [WIDE], 6, traces.STYLES["mixed"])
    assert all("headers" not in r for r in records)
    actions = collections.Counter(r["action"] for r in records if r["kind"] == "tile")
    assert actions["pan"] and actions["zoom-in"] and "jump" not in actions
    assert any(len({r["level"] for r in s}) == 2 for s in _steps(records).values())


def test_a_tiles_level_is_read_from_its_dzi_or_iiif_url():
    g = traces.Geometry(10000, 7000, 512, 0)  # DZI levels 0-14
    for level, col, row in ((14, 3, 2), (12, 1, 1), (9, 0, 0)):
        assert traces.tile_level(traces.tile_url("a.svs", level, col, row), g) == level
        assert traces.tile_level(traces.iiif_tile_url("a.svs", g, level, col, row), g) == level
    assert traces.tile_level("iiif/3/a.svs/0,0,2048,2048/512,/0/default.jpg", g) == 12  # w,
    assert traces.tile_level("iiif/3/a.svs/full/!120,120/0/default.jpg", g) is None
    assert traces.tile_level("iiif/3/a.svs/full/max/0/default.jpg", g) is None
