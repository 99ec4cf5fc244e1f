"""The prefetcher on a real three-level slide in a file store: what it warms, and the limits
it keeps. Requests are scripted as a viewer would make them."""

import functools
import json
from dataclasses import astuple

import pytest

from helpers import make_settings
from wsi_blueprint.errors import TooLarge
from wsi_blueprint.imaging import region
from wsi_blueprint.imaging.region import plan_region
from wsi_blueprint.prefetch.context import SidecarContext
from wsi_blueprint.prefetch import engine
from wsi_blueprint.prefetch.engine import Prefetcher, PrefetchSettings
from wsi_blueprint.prefetch.render_ahead import derived_tiles
from wsi_blueprint.prefetch.rules import parse_rules
from wsi_blueprint.prefetch.viewport import Request, Viewport
from wsi_blueprint.protocols.dzi import DeepZoom, DziTiling
from wsi_blueprint.reader import SlideReader, View
from wsi_blueprint.sample import write_sample
from wsi_blueprint.state import WSIState

TILE = 256
HE = "cases/7/he.tiff"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    (folder / "cases" / "7").mkdir(parents=True)
    (folder / "cases" / "6").mkdir(parents=True)
    for name in ("he.tiff", "ki67.tiff", "cd3.tiff"):
        write_sample(str(folder / "cases" / "7" / name), 4096, 3072)
    write_sample(str(folder / "cases" / "6" / "old-he.tiff"), 2048, 1536)
    (folder / "cases" / "7" / ".case.json").write_text(json.dumps({
        "case": "7", "type": "follow-up", "prior_case": "cases/6",
        "slides": {"he.tiff": {"stain": "H&E"}, "ki67.tiff": {"stain": "Ki-67"},
                   "cd3.tiff": {"stain": "CD3"}}}))
    return folder


def build(folder, rules=(), clock=None, **knobs):
    """A file store of 16 KiB blocks; store reads of one block unless `read_size` says."""
    knobs.setdefault("read_size", 16 * 1024)
    state = WSIState.build(make_settings(store=f"file://{folder}", prefetch="off",
                                         block_size="16K"))
    prefetcher = Prefetcher(state.readers, state.counters, PrefetchSettings(**knobs),
                            rules=rules, context=SidecarContext(state.store),
                            **({"clock": clock} if clock else {}))
    return state, prefetcher


class Clock:
    """The prefetcher's clock, moved by the test: quiet periods happen when it says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def observe(prefetcher, session, slide, slide_id, request, tiling=None):
    """A demand request served from `slide` (as the protocols report it, through a reader)."""
    return prefetcher.observe(session, SlideReader(slide, slide_id), request, tiling)


def view(prefetcher, slide, slide_id, t, col0, row0, level_scale, cols=3, rows=2,
         session="s1", tiling=None):
    """The requests a viewer makes for a screen of tiles at (col0, row0) of the level whose
    scale is `level_scale`."""
    span = TILE * level_scale
    for r in range(rows):
        for c in range(cols):
            observe(prefetcher, session, slide, slide_id, Request(
                t, (col0 + c) * span, (row0 + r) * span, span, span, level_scale), tiling)


def derived(slide, tiling, x, y, width, height, scale, slide_id=HE):
    """(cache key, render) of the resampled tiles a viewer naming tiles by `tiling` asks for
    in the level-0 rectangle at `scale`, centre first."""
    reader = SlideReader(slide, slide_id)
    return [(key, functools.partial(reader.region, req))
            for key, req in derived_tiles(reader, tiling, View(x, y, width, height, scale))]


def pan_east(state, prefetcher, screens: int, slide_id="cases/7/he.tiff") -> None:
    """A viewer panning east at full resolution, a screen of 4 x 3 tiles every 2 s, each
    screen's prefetch finished before the next."""
    slide = state.library.open(slide_id)
    for step in range(screens):
        view(prefetcher, slide, slide_id, step * 2.0, step * 2, 4, 1, cols=4, rows=3)
        prefetcher.drain()


def tiles_cached(slide, level, coords) -> bool:
    blocks = slide.blocks
    wanted = {i for offset, length in slide.tile_ranges(level, coords)
              for i in range(offset // blocks.block_size,
                             (offset + length - 1) // blocks.block_size + 1)}
    return blocks.cached(sorted(wanted)) == wanted


def submitted(prefetcher) -> list:
    """The jobs `prefetcher` submits from now on, in order; they still run."""
    jobs, submit = [], prefetcher._submit
    prefetcher._submit = lambda job: (jobs.append(job), submit(job))
    return jobs


def foreseen(job):
    """The region a job plans: its own, or the one it foresees when it runs (a next zoom
    frame, from the requests of the frame by then)."""
    return job.region if job.foresee is None else job.foresee()


def region_cached(slide, x, y, width, height, scale) -> bool:
    """Whether the stored tiles a render of the level-0 rectangle at `scale` reads are
    all cached."""
    level, coords = SlideReader(slide, HE).stored_tiles_for(View(x, y, width, height, scale))
    return bool(coords) and tiles_cached(slide, level, coords)


def test_opening_a_slide_warms_its_overview_levels(folder):
    state, prefetcher = build(folder)
    slide = state.library.open("cases/7/he.tiff")
    view(prefetcher, slide, "cases/7/he.tiff", 0.0, 0, 0, 16, cols=1, rows=1)
    assert prefetcher.drain()
    for level in (1, 2):  # 4x3 and 1x1 tiles: overview levels; level 0 (16x12) is not
        columns, rows = slide.tile_grid(level)
        assert tiles_cached(slide, level, [(c, r) for r in range(rows) for c in range(columns)])
    assert not tiles_cached(slide, 0, [(8, 8)])
    assert state.counters.get("prefetch_jobs", reason="overview") == 2


def test_panning_east_warms_the_next_screen_east_before_it_is_asked(folder):
    clock = Clock()
    state, prefetcher = build(folder, clock=clock)
    slide = state.library.open("cases/7/he.tiff")
    sid = "cases/7/he.tiff"
    for step in range(3):  # pans of two tiles east at full resolution: screens at 0, 2, 4
        clock.now = step * 2.0
        view(prefetcher, slide, sid, clock.now, step * 2, 4, 1, cols=4, rows=3)
        clock.now += 0.5  # the viewer looks
        prefetcher.end_quiet_bursts()
    # A sweep under way once the third screen settled (two pans east): the screen at 6 is
    # ready before the viewer asks for it.
    assert prefetcher.drain()
    ahead = [(c, r) for c in range(6, 10) for r in range(4, 7)]
    assert tiles_cached(slide, 0, ahead)
    assert state.counters.get("prefetch_jobs", reason="pan_e") >= 1
    clock.now = 6.0
    view(prefetcher, slide, sid, clock.now, 6, 4, 1, cols=4, rows=3)  # the viewer goes there
    assert prefetcher.drain()
    assert state.counters.get("prefetch_used_bytes") == 0  # asked for, not read yet
    slide.read_tiles(0, ahead)  # as the viewer's requests do
    assert 0 < state.counters.get("prefetch_used_bytes") <= state.counters.get("prefetch_bytes")
    # Counted by the predictor that asked: the pan's bytes, used under its name (the rest by
    # the drags whose first requests went beyond the screen's edge).
    assert state.counters.get("prefetch_used_bytes", reason="pan_e") > 0
    assert state.counters.get("prefetch_used_bytes", reason="pan_e") + \
        state.counters.get("prefetch_used_bytes", reason="drag") == \
        state.counters.get("prefetch_used_bytes")
    assert state.counters.get("prefetch_bytes", reason="pan_e") > 0
    clock.now += 0.5
    prefetcher.end_quiet_bursts()  # the viewer settled where the prediction said
    assert state.counters.get("prefetch_predictions", outcome="hit") == 1


def test_a_screening_sweep_gets_the_way_back_along_the_next_row_fetched(folder):
    """East along a row in steps of three tiles, a step south: the screen one step west of
    the turn is ready before the viewer asks, stepped as the pans east were. Further south is
    not prepared for (a drag on down gets its strip at its first request)."""
    clock = Clock()
    state, prefetcher = build(folder, clock=clock)
    slide = state.library.open(HE)
    screens = [(0, 0), (3, 0), (6, 0), (9, 0), (9, 3)]  # east three times, then south
    for step, (col, row) in enumerate(screens):
        clock.now = step * 2.0
        view(prefetcher, slide, HE, clock.now, col, row, 1, cols=4, rows=3)
        clock.now += 0.5
        prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    back = [(c, r) for c in range(6, 10) for r in range(3, 6)]
    assert tiles_cached(slide, 0, back)
    assert state.counters.get("prefetch_jobs", reason="pan_w") >= 1
    assert state.counters.get("prefetch_jobs", reason="pan_s") == 0


def test_the_session_budget_is_never_exceeded(folder):
    state, prefetcher = build(folder, session_budget=40_000)
    pan_east(state, prefetcher, screens=6)
    assert 0 < state.counters.get("prefetch_bytes") <= 40_000
    assert state.counters.get("prefetch_dropped", why="budget") >= 1


def test_the_store_request_rate_limit_is_never_exceeded(folder):
    state, prefetcher = build(folder, rate_per_minute=12)  # a bucket of 2 requests
    prefetcher.limiter.clock = lambda: 0.0  # time stands still: the bucket never refills
    prefetcher.limiter.stamp = 0.0
    pan_east(state, prefetcher, screens=6)
    assert 0 < state.counters.get("prefetch_store_requests") <= 2
    assert state.counters.get("prefetch_dropped", why="rate") >= 1


def test_the_store_requests_counted_for_prefetching_are_the_ones_it_made(folder):
    """`prefetch_store_requests` (prefetch's share of the store's cost, and each predictor's
    requests in the benchmarks) counts the requests each fetch made, read units and all."""
    state, prefetcher = build(folder, read_size=64 * 1024)
    state.library.open(HE)
    before = state.counters.get("store_requests")
    pan_east(state, prefetcher, screens=4)  # the viewer's requests are observed, not read
    assert prefetcher.drain()
    made = state.counters.get("store_requests") - before
    assert made > 0 and state.counters.get("prefetch_store_requests") == made


def test_demand_comes_first_and_stale_viewport_work_is_cancelled(folder):
    state, prefetcher = build(folder, demand_wait=5.0)
    slide = state.library.open("cases/7/he.tiff")
    sid = "cases/7/he.tiff"
    view(prefetcher, slide, sid, 0.0, 0, 4, 1, cols=4, rows=3)
    prefetcher.drain()
    prefetcher.demand_started()  # a demand request in flight: prefetch work waits
    view(prefetcher, slide, sid, 2.0, 2, 4, 1, cols=4, rows=3)  # east...
    view(prefetcher, slide, sid, 4.0, 4, 4, 1, cols=4, rows=3)  # east again...
    view(prefetcher, slide, sid, 6.0, 4, 9, 1, cols=4, rows=3)  # a sweep: predicts east
    view(prefetcher, slide, sid, 8.0, 4, 14, 1, cols=4, rows=3)  # south: east is now stale
    assert state.counters.get("prefetch_jobs", reason="pan_e") == 0
    prefetcher.demand_ended()
    assert prefetcher.drain()
    assert state.counters.get("prefetch_cancelled") >= 1


def test_rules_warm_the_other_stains_of_the_case_and_the_prior_case(folder):
    rules = parse_rules(open("conf/prefetch-rules.yaml").read())
    state, prefetcher = build(folder, rules=rules)
    slide = state.library.open("cases/7/he.tiff")
    view(prefetcher, slide, "cases/7/he.tiff", 0.0, 0, 0, 16, cols=1, rows=1)
    assert prefetcher.drain()
    assert state.counters.get("prefetch_rule_slides", rule="ihc-beside-he") == 2
    assert state.counters.get("prefetch_rule_slides", rule="prior-case-on-follow-up") == 1
    for other in ("cases/7/ki67.tiff", "cases/7/cd3.tiff"):
        related = state.library.open(other)
        assert tiles_cached(related, 2, [(0, 0)])  # its overview is warm
    parses = state.counters.get("slide_parses")
    state.library.open("cases/6/old-he.tiff")  # the prior case: already parsed
    assert state.counters.get("slide_parses") == parses


def test_rules_do_nothing_without_a_case_context(tmp_path):
    write_sample(str(tmp_path / "lonely.tiff"), 1024, 768)
    rules = parse_rules(open("conf/prefetch-rules.yaml").read())
    state, prefetcher = build(tmp_path, rules=rules)
    slide = state.library.open("lonely.tiff")
    view(prefetcher, slide, "lonely.tiff", 0.0, 0, 0, 4, cols=1, rows=1)
    assert prefetcher.drain()
    assert state.counters.get("prefetch_rule_slides") == 0


def dzi_tiling(slide) -> DziTiling:
    return DziTiling(DeepZoom(slide.index.width, slide.index.height, TILE, 0), "jpeg", 80)


def on_he_slide(folder, **knobs):
    """A prefetcher on its own clock, the H&E slide open, and DZI tiles named as viewers do."""
    clock = Clock()
    state, prefetcher = build(folder, clock=clock, **knobs)
    slide = state.library.open(HE)
    return clock, state, prefetcher, slide, dzi_tiling(slide)


def two_workers(folder, memcached, clock, **knobs):
    """Two workers' states and prefetchers sharing one memcached."""
    workers = []
    for _ in range(2):
        state = WSIState.build(make_settings(store=f"file://{folder}", prefetch="off",
                                             block_size="16K",
                                             memcached=f"127.0.0.1:{memcached.port}"))
        workers.append((state, Prefetcher(state.readers, state.counters,
                                          PrefetchSettings(**{"read_size": 16 * 1024} | knobs),
                                          clock=clock)))
    return workers


def pan_east_at_scale_2(prefetcher, slide, sid, clock, tiling, screens, look_at_last=True):
    """Screens of 4 x 3 tiles a column apart at DZI scale 2 (resampled from level 0), two
    seconds apart, each looked at (half a second without a request: a burst gap and more)."""
    for step in range(screens):
        clock.now = step * 2.0
        view(prefetcher, slide, sid, clock.now, step, 1, 2, cols=4, rows=3, tiling=tiling)
        assert prefetcher.drain()
        if step < screens - 1 or look_at_last:
            clock.now += 0.5
            prefetcher.end_quiet_bursts()


def test_a_viewer_who_settles_gets_the_next_screen_rendered_while_looking(folder):
    """Three screens panning east, each followed by a quiet spell: while the viewer looks at
    the third, the fourth is fetched and rendered, and asking for its tiles counts them as
    used."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    sid = HE
    pan_east_at_scale_2(prefetcher, slide, sid, clock, tiling, screens=3)
    assert prefetcher.drain()
    span = TILE * 2
    ahead = derived(slide, tiling, 3 * span, 1 * span, 4 * span, 3 * span, 2)
    assert len(ahead) == 12
    keys = [key for key, _ in ahead]
    assert state.caches.tiles.peek_many(keys) == set(keys)
    assert state.counters.get("prefetch_tiles_rendered") == 12
    assert state.counters.get("prefetch_jobs", reason="pan_e") >= 1
    # Rendering read the prefetched blocks, but for nobody yet: none of them counts as used.
    assert state.counters.get("prefetch_bytes") > 0
    assert state.counters.get("prefetch_used_bytes") == 0
    # What was rendered ahead is what the viewer would have been served.
    key, render = ahead[0]
    assert state.caches.tiles.get(key) == render()
    for key in keys[:5]:
        prefetcher.tile_asked(key)
    prefetcher.tile_asked(keys[0])  # a second ask of the same tile is not a second use
    assert state.counters.get("prefetch_tiles_used") == 5
    # The blocks those five were rendered from were used too, through the tiles.
    used = state.counters.get("prefetch_used_bytes")
    assert 0 < used < state.counters.get("prefetch_bytes")
    for key in keys:
        prefetcher.tile_asked(key)
    assert used < state.counters.get("prefetch_used_bytes") <= state.counters.get(
        "prefetch_bytes")


def test_a_request_off_the_viewers_grid_does_not_stop_rendering_ahead(folder):
    """The third screen's burst ends on a request that names no tile of the grid (a IIIF 2
    viewer's edge tile sized by width alone, a thumbnail): the fourth screen is still
    rendered as the viewer names its tiles."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    pan_east_at_scale_2(prefetcher, slide, HE, clock, tiling, screens=3, look_at_last=False)
    span = TILE * 2
    observe(prefetcher, "s1", slide, HE, Request(clock.now, 5 * span, 3 * span, span // 2,
                                                 span, 2))
    clock.now += 0.5
    prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    keys = [key for key, _ in derived(slide, tiling, 3 * span, span, 4 * span, 3 * span, 2)]
    assert len(keys) == 12
    assert state.caches.tiles.peek_many(keys) == set(keys)


def test_one_session_id_showing_two_slides_side_by_side_prepares_both(folder):
    """A host page shows the H&E and the Ki-67 side by side, in step, and names its viewer by
    one session id: their requests interleave, and each slide's next screen east is still
    rendered while the viewer looks."""
    clock, state, prefetcher, he, he_tiling = on_he_slide(folder)
    ki67_id = "cases/7/ki67.tiff"
    ki67 = state.library.open(ki67_id)
    shown = ((he, HE, he_tiling), (ki67, ki67_id, dzi_tiling(ki67)))
    span = TILE * 2
    for step in range(3):
        clock.now = step * 2.0
        for r in range(3):
            for c in range(4):
                for slide, slide_id, tiling in shown:
                    observe(prefetcher, "s1", slide, slide_id, Request(
                        clock.now, (step + c) * span, (1 + r) * span, span, span, 2), tiling)
        assert prefetcher.drain()
        clock.now += 0.5
        prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    for slide, slide_id, tiling in shown:
        keys = [key for key, _ in derived(slide, tiling, 3 * span, span, 4 * span, 3 * span, 2,
                                          slide_id)]
        assert len(keys) == 12
        assert state.caches.tiles.peek_many(keys) == set(keys), slide_id


def test_at_a_sweeps_turn_only_the_way_back_is_prepared(folder):
    """At scale 2, east along a row of 2 x 2 tile screens, then a step south: the screen back
    west is fetched and rendered, the one further south neither."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    for step, (col, row) in enumerate([(0, 0), (1, 0), (2, 0), (3, 0), (3, 2)]):
        clock.now = step * 2.0
        view(prefetcher, slide, HE, clock.now, col, row, 2, cols=2, rows=2, tiling=tiling)
        clock.now += 0.5
        prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    span = TILE * 2
    back = [key for key, _ in derived(slide, tiling, 2 * span, 2 * span, 2 * span,
                                                    2 * span, 2)]
    across = [key for key, _ in derived(slide, tiling, 3 * span, 4 * span, 2 * span,
                                                      2 * span, 2)]
    assert len(back) == len(across) == 4
    assert state.caches.tiles.peek_many(back) == set(back)
    assert not state.caches.tiles.peek_many(across)
    assert not tiles_cached(slide, 0, [(c, r) for c in range(6, 10) for r in range(8, 12)])


def test_prefetch_reads_whole_read_units_and_counts_their_other_blocks_as_read_ahead(folder):
    """With reads of four blocks, the screen ahead comes in fewer requests than with reads of
    one; the blocks the units added are entered as read ahead, and count as used once read."""
    requests = {}
    for read_size in (16 * 1024, 64 * 1024):
        state, prefetcher = build(folder, read_size=read_size)
        pan_east(state, prefetcher, screens=4)
        requests[read_size] = state.counters.get("prefetch_store_requests")
        assert state.counters.get("prefetch_jobs", reason="pan_e") >= 1
    assert 0 < requests[64 * 1024] < requests[16 * 1024]
    ahead = state.counters.get("read_ahead_bytes")
    assert ahead > 0 and state.counters.get("read_ahead_used_bytes") == 0
    slide = state.library.open("cases/7/he.tiff")
    slide.read_tiles(0, [(c, r) for c in range(16) for r in range(12)])  # all of level 0
    assert 0 < state.counters.get("read_ahead_used_bytes") <= ahead


def test_rendering_ahead_stops_when_the_viewer_moves_on(folder):
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=5.0)
    sid = HE
    pan_east_at_scale_2(prefetcher, slide, sid, clock, tiling, screens=3, look_at_last=False)
    prefetcher.demand_started()  # demand in flight: the rendering job waits
    clock.now += 0.5
    prefetcher.end_quiet_bursts()  # east predicted, queued behind demand
    clock.now += 2.0
    view(prefetcher, slide, sid, clock.now, 2, 4, 2, cols=4, rows=3, tiling=tiling)  # south
    clock.now += 0.5
    prefetcher.end_quiet_bursts()
    prefetcher.demand_ended()
    assert prefetcher.drain()
    assert state.counters.get("prefetch_cancelled") >= 1
    span = TILE * 2
    east = [key for key, _ in derived(slide, tiling, 3 * span, span, 4 * span, 3 * span, 2)]
    assert not state.caches.tiles.peek_many(east)  # nothing rendered for the screen left


def test_workers_sharing_memcached_render_each_tile_once(folder, memcached):
    """A viewer's connections reach two workers; both see it pan and both predict the same
    screen, whose bytes are already cached (so no block lease stands between them), yet each
    tile ahead is rendered by one of them, and both then find it in the shared cache."""
    clock = Clock()
    workers = two_workers(folder, memcached, clock, demand_wait=5.0)
    sid = "cases/7/he.tiff"
    slide = workers[0][0].library.open(sid)
    tiling = dzi_tiling(slide)
    slide.read_tiles(0, [(c, r) for c in range(6, 16) for r in range(2, 8)])  # bytes cached
    for step in range(3):
        clock.now = step * 2.0
        for state, prefetcher in workers:
            view(prefetcher, state.library.open(sid), sid, clock.now, step, 1, 2, cols=4,
                 rows=3, tiling=tiling)
            assert prefetcher.drain()
            prefetcher.demand_started()  # hold the work back, to release both at once
        clock.now += 0.5
        for _, prefetcher in workers:
            prefetcher.end_quiet_bursts()
        for _, prefetcher in workers:
            prefetcher.demand_ended()
        for _, prefetcher in workers:
            assert prefetcher.drain()
    rendered = [state.counters.get("prefetch_tiles_rendered") for state, _ in workers]
    assert sum(rendered) == 12
    span = TILE * 2
    keys = [key for key, _ in derived(slide, tiling, 3 * span, span, 4 * span, 3 * span, 2)]
    for state, _ in workers:
        assert state.caches.tiles.peek_many(keys) == set(keys)
    # The viewer asks for them through the worker that rendered fewer (as its connections
    # may), then through the other too: each counts as used, once.
    fewer, more = sorted(workers, key=lambda w: w[0].counters.get("prefetch_tiles_rendered"))
    for asked_through in (fewer, more):
        for key in keys:
            asked_through[1].tile_asked(key)
        assert asked_through[1].drain()
        assert sum(state.counters.get("prefetch_tiles_used") for state, _ in workers) == 12


def settled_on_he_slide(folder, scale, cols, rows):
    """A prefetcher whose viewer settled on `cols` x `rows` DZI tiles at `scale` from the H&E
    slide's corner, the jobs it plans collected rather than run."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = []
    prefetcher._submit = jobs.append
    view(prefetcher, slide, HE, 0.0, 0, 0, scale, cols=cols, rows=rows, tiling=tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    return prefetcher, slide, tiling, jobs


def test_a_zoom_animation_gets_its_next_frame_fetched_before_it_is_asked(folder):
    """A zoom-in animation halves the scale each frame about a point that stays put: when the
    first request of the frame at scale 4 arrives (the viewer looked at scale 8), the stored
    tiles of the frame at scale 2 are fetched at once, inside the same burst. Its resampled tiles
    are rendered only once demand pauses (between two frames): rendering beside the demand
    renders of the frame being shown would slow them."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    sid = HE
    jobs = submitted(prefetcher)
    view(prefetcher, slide, sid, 0.0, 0, 0, 8, cols=2, rows=2, tiling=tiling)  # 4096 px square
    clock.now = 0.5
    prefetcher.end_quiet_bursts()  # the viewer settled on a screen of 512 px at scale 8
    assert prefetcher.drain()
    prefetcher.demand_started()  # the frame's other requests are still being served
    # The next frame's first request: its centre tile, at scale 4 around (2048, 2048).
    observe(prefetcher, "s1", slide, sid, Request(2.0, 1024, 1024, 1024, 1024, 4), tiling)
    assert prefetcher.drain()
    # The screen's centre (2048, 2048) moved to (1536, 1536) as the scale halved. Predicted:
    # scale 2, a quarter of 4096 px wide (1024 px), about the frame's own centre: this is the
    # zoom's first frame, and a click zooms a level, the next click anywhere. The zoom may
    # stop at this first frame: no margin, but all of it fetched, though it reads level 0
    # where the frame reads level 1.
    (after,) = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
    assert after == Viewport(1024, 1024, 1024, 1024, 2)
    assert region_cached(slide, 1024, 1024, 1024, 1024, 2)
    assert not region_cached(slide, 512, 512, 512, 512, 2)
    assert state.counters.get("prefetch_jobs", reason="zoom_frame") == 1
    assert state.counters.get("prefetch_tiles_rendered") == 0  # demand never paused
    prefetcher.demand_ended()
    # Another viewer's same zoom, demand paused between its frames: rendered ahead.
    view(prefetcher, slide, sid, 3.0, 0, 0, 8, cols=2, rows=2, session="s2", tiling=tiling)
    clock.now = 3.5
    prefetcher.end_quiet_bursts()
    observe(prefetcher, "s2", slide, sid, Request(4.0, 1024, 1024, 1024, 1024, 4), tiling)
    assert prefetcher.drain()
    frame = derived(slide, tiling, 1024, 1024, 1024, 1024, 2)
    assert frame and state.counters.get("prefetch_tiles_rendered") == len(frame)
    cached = state.library.caches.tiles.peek_many([key for key, _ in frame])
    assert all(key in cached for key, _ in frame)
    # More requests of the same frame do not predict it again.
    observe(prefetcher, "s1", slide, sid, Request(2.01, 0, 1024, 1024, 1024, 4), tiling)
    assert prefetcher.drain()
    assert state.counters.get("prefetch_jobs", reason="zoom_frame") == 1


def test_a_foreseen_frame_larger_than_a_render_may_be_is_still_fetched(folder, monkeypatch):
    """A render's canvas is bounded (a request for more is refused); a prefetched region's is
    not: a foreseen frame (grown by its margin, drawn out by the zoom's step once it goes on)
    names tiles to fetch, and the session's byte budget bounds what that costs."""
    monkeypatch.setattr(region, "MAX_CANVAS_PIXELS", 500 * 500)
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    view(prefetcher, slide, HE, 0.0, 0, 0, 8, cols=2, rows=2, tiling=tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    observe(prefetcher, "s1", slide, HE, Request(2.0, 1024, 1024, 1024, 1024, 4), tiling)
    assert prefetcher.drain()
    with pytest.raises(TooLarge):  # the next frame, as the previous test foresees it
        plan_region(slide, 1024, 1024, 1024, 1024, 512, 512)
    assert region_cached(slide, 1024, 1024, 1024, 1024, 2)
    assert state.counters.get("prefetch_jobs", reason="zoom_frame") == 1
    assert state.counters.get("prefetch_dropped", why="error", reason="zoom_frame") == 0


def test_a_zoom_frames_next_frame_is_fetched_whole_with_a_later_frames_margin(folder):
    """The next frame is fetched whole: a viewer asks for a frame centre first, a round of
    requests every few milliseconds, and reaches a small frame's edges within a store round
    trip. At a zoom's first frame (the zoom may stop there) it is the estimate; once the zoom
    goes on, a quarter wider and taller, as later frames are."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    jobs = submitted(prefetcher)
    view(prefetcher, slide, HE, 0.0, 0, 0, 16, cols=1, rows=1, tiling=tiling)  # the slide
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    predicted = []
    for t, scale in ((2.0, 8), (2.12, 4), (2.24, 2)):  # about the centre, 0.12 s apart
        observe(prefetcher, "s1", slide, HE, Request(t, 2048 - 128 * scale, 2048 - 128 * scale,
                                                     256 * scale, 256 * scale, scale), tiling)
        assert prefetcher.drain()
        predicted += [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
        jobs.clear()
    # The screen shown was 256 px across: frames at scale 8, 4 and 2 are estimated 2048,
    # 1024 and 512 level-0 px wide, their next frames half that, then the margin.
    assert [(after.scale, after.width, after.height) for after in predicted] == [
        (4, 1024, 1024), (2, 512 * 1.25, 512 * 1.25), (1, 256 * 1.25, 256 * 1.25)]
    assert all(region_cached(slide, *astuple(after)) for after in predicted)


def test_each_next_zoom_frame_is_predicted_about_the_point_that_stays_put(folder):
    """Zooming about a point (OpenSeadragon's wheel zoom keeps the pointer's point where it
    is) halves the scale and the distance of the centre to that point each frame: once the
    zoom goes on, the next frame is predicted from the two frames' centres before it and lands
    where the viewer goes. At the zoom's first frame nothing tells a wheel from a click, after
    which the next click may land anywhere: its next frame is foreseen about itself."""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 8, 2, 2)  # centre 2048
    point, centre = (1024.0, 512.0), (2048.0, 2048.0)
    for frame, scale in enumerate((4, 2, 1)):
        centre = ((centre[0] + point[0]) / 2, (centre[1] + point[1]) / 2)
        size = 256 * scale
        jobs.clear()
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.1 * frame, centre[0] - size / 2,
                                                     centre[1] - size / 2, size, size, scale),
                tiling)
        now = next(job.region for job in jobs if job.reason == "frame_now")
        assert now.centre == centre and now.scale == scale
        after = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
        if frame == 0:
            assert after[0].centre == centre
        elif scale > 1:
            assert after[0].centre == ((centre[0] + point[0]) / 2, (centre[1] + point[1]) / 2)
        else:
            assert after == []  # nothing finer than level 0


def test_a_next_zoom_frame_takes_in_a_flight_as_well_as_a_zoom_about_a_point(folder):
    """A viewer fitting a place (its pan and zoom animated together) moves the centre as far
    each frame as the frame before; one zooming about a point, half as far. Once the zoom goes
    on, the next frame foreseen takes in both. (Foreseen half a step on alone, a flight's next
    frame lay a quarter of its width past it.)"""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 16, 1, 1)  # centre 2048
    centre = 2048.0
    for frame, scale in enumerate((8, 4, 2)):  # flying east by 512 px a frame
        centre += 512
        size = 256 * scale
        jobs.clear()
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.12 * frame, centre - size / 2,
                                                     2048 - size / 2, size, size, scale), tiling)
        (after,) = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
        assert after.scale == scale / 2
        if frame == 0:  # a zoom's first frame: about itself (see the test before)
            assert after.centre == (centre, 2048)
            continue
        for landing in (centre + 512, centre + 256):  # the flight's, a zoom about a point's
            left = landing - 128 * scale / 2
            assert after.x <= left and left + 128 * scale <= after.x + after.width
        assert after.y <= 2048 - 64 * scale and 2048 + 64 * scale <= after.y + after.height


def test_a_next_zoom_frame_is_foreseen_about_the_middle_of_the_frames_first_round(
        folder, monkeypatch):
    """A frame's first round of requests comes at once, over several connections, and reaches
    the server in any order: the first request a worker sees may be a tile off the frame's
    centre. The next frame is foreseen once the round has come in, about its middle. (Foreseen
    about the first request, it lay half a tile off, and its far column went unfetched.)"""
    monkeypatch.setattr(engine, "FRAME_SETTLE", 0.5)  # the whole round is in by then
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = submitted(prefetcher)
    view(prefetcher, slide, HE, 0.0, 0, 0, 8, cols=2, rows=2, tiling=tiling)  # centre 2048
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    # A zoom about the screen's centre to scale 4: its round is the four 1024 px tiles around
    # (2048, 2048), the bottom right one first.
    for i, (x, y) in enumerate(((2048, 2048), (1024, 1024), (2048, 1024), (1024, 2048))):
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.001 * i, x, y, 1024, 1024, 4),
                tiling)
    assert prefetcher.drain()
    (after,) = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
    assert after == Viewport(1536, 1536, 1024, 1024, 2)  # the centre stays put
    assert region_cached(slide, 1536, 1536, 1024, 1024, 2)
    assert not region_cached(slide, 2560, 1536, 512, 1024, 2)


def test_a_zoom_right_after_a_jump_is_foreseen_about_its_own_first_frame(folder):
    """A navigator click and a zoom at once, their requests one burst. The screen the jump went
    to is known only to have moved as far as the jump's first tile, not where it landed, so the
    zoom is taken to keep its centre: the next frame is foreseen about the zoom's first frame.
    (Half a step on from the screen the burst began on, it lay off the slide; from the screen
    moved as far as the jump's first tile, a column and a row aside.)"""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 4, 2, 1)  # centre 1024, 512
    jump = Request(2.0, 3072, 2048, 1024, 1024, 4)  # the screen moves to 2048-4096 x 2048-3072
    observe(prefetcher, "s1", slide, HE, jump, tiling)
    observe(prefetcher, "s1", slide, HE, Request(2.05, 3072, 2048, 512, 512, 2), tiling)
    (now,) = [job.region for job in jobs if job.reason == "frame_now"]
    assert now.centre == (3328, 2304) and now.scale == 2
    (after,) = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
    assert after.centre == (3328, 2304)
    assert after.scale == 1


def test_a_zoom_in_after_an_unseen_zoom_out_and_a_jump_is_a_zoom_frame(folder):
    """A zoom out over levels the viewer had loaded asks for no tile: the server still takes
    the screen for the one at full resolution. A burst's request at a coarser scale more than
    a screen off shows the viewer zoomed out since and moved; a finer request after it is a
    zoom frame, whose stored tiles are fetched at once and whose next frame is foreseen about
    its own. (Finer than none of the screen taken as shown, it was no zoom, and nothing was
    fetched until the burst ended.)"""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 1, 2, 1)  # 512 x 256 at 0, 0
    observe(prefetcher, "s1", slide, HE, Request(2.0, 3072, 2048, 1024, 1024, 4), tiling)
    observe(prefetcher, "s1", slide, HE, Request(2.05, 3072, 2048, 512, 512, 2), tiling)
    (now,) = [foreseen(job) for job in jobs if job.reason == "frame_now"]
    assert now.centre == (3328, 2304) and now.scale == 2
    (after,) = [foreseen(job) for job in jobs if job.reason == "zoom_frame"]
    assert after.centre == (3328, 2304) and after.scale == 1


def test_a_jump_that_fills_the_levels_under_its_screen_coarse_first_is_no_zoom(folder):
    """A viewer jumping, at the zoom it settled on, to where it has no coarse tiles asks for
    the levels under its new screen coarse first, a tile each, then the screen's own level.
    The first coarse tile off the screen moves it there (a zoom out the server never saw looks
    the same), and each finer level then begins a frame, over as soon as the next level
    begins: nothing is fetched or foreseen for them. At the settled scale the walk ends, a
    jump there, whose zoom in on where it lands is foreseen. (Every level was a zoom frame,
    each fetching a screen at its scale and foreseeing the next.)"""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 2, 2, 1)  # 1024 x 512 at 0, 0
    # About (3328, 2304): the tile at scale 16, the whole slide, centred more than a screen
    # off, moves the screen; the ones at 8 and 4 each begin a frame.
    for i, scale in enumerate((16, 8, 4, 2)):
        span = TILE * scale
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.01 * i, 3328 // span * span,
                                                     2304 // span * span, span, span, scale),
                tiling)
    frames = [job for job in jobs if job.reason in ("frame_now", "zoom_frame")]
    assert [job.reason for job in frames] == ["frame_now", "zoom_frame"] * 2
    assert [foreseen(job) for job in frames] == [None] * 4
    (jump,) = [job for job in jobs if job.reason == "jump_zoom"]
    assert foreseen(jump) == Viewport(3072, 2176, 512, 256, 1)


def test_a_walks_next_level_is_foreseen_as_the_screen_there(folder):
    """A walk asks for each level's screen, no more, as the level before lands: the next level
    foreseen from one is the screen there about the level's first tile, neither drawn out
    towards it from the level before nor given a later zoom frame's margin (which made each
    of a walk's next frames several screens wide)."""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 2, 2, 1)  # 1024 x 512 at 0, 0
    for i, scale in enumerate((16, 8, 4)):  # about (3328, 2304), coarse first
        span = TILE * scale
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.01 * i, 3328 // span * span,
                                                     2304 // span * span, span, span, scale),
                tiling)
    # The level at scale 4 began at the tile about (3584, 2560): the screen at scale 2 there.
    assert foreseen([job for job in jobs if job.reason == "zoom_frame"][-1]) == \
        Viewport(3072, 2304, 1024, 512, 2)


def test_a_walks_level_is_fetched_as_the_screen_there(folder):
    """Each level of a walk is fetched as the screen at that level about its first tile: not
    as a later zoom frame, as large as the burst so far and a quarter wider, where the burst
    is a jump's way (a navigator click's animation asks for the finer levels along it)."""
    prefetcher, slide, tiling, jobs = settled_on_he_slide(folder, 2, 2, 1)  # 1024 x 512 at 0, 0
    for i, (scale, x) in enumerate([(16, 0), (8, 0), (8, 2048), (4, 3072)]):  # the way east
        span = TILE * scale
        observe(prefetcher, "s1", slide, HE, Request(2.0 + 0.01 * i, x, 2048, span, span, scale),
                tiling)
    # The level at scale 4 began at the tile about (3584, 2560): 512 x 256 px at scale 4.
    assert foreseen([job for job in jobs if job.reason == "frame_now"][-1]) == \
        Viewport(2560, 2048, 2048, 1024, 4)


def test_a_zoom_towards_the_slides_edge_is_predicted_with_its_centre_on_the_slide(
        folder, monkeypatch):
    """A viewer keeps its screen's centre on the image, so a zoom towards the slide's corner
    ends there: the next frame, foreseen half a step past the frame, is moved back until its
    centre is on the slide, where its stored tiles are fetched. (Past the corner it lay wholly
    off the 4096 x 3072 slide, and nothing was fetched.)"""
    monkeypatch.setattr(engine, "FRAME_SETTLE", 0.5)  # the second frame has begun by then
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = submitted(prefetcher)
    view(prefetcher, slide, HE, 0.0, 0, 0, 16, cols=1, rows=1, tiling=tiling)  # centre 2048
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    # A zoom's frames at scale 8 about (2816, 1280), then at scale 4 in the top right corner,
    # about (3840, 256): half a step on from that is (4352, -256), beyond both edges.
    observe(prefetcher, "s1", slide, HE, Request(2.0, 2560, 1024, 512, 512, 8), tiling)
    observe(prefetcher, "s1", slide, HE, Request(2.12, 3584, 0, 512, 512, 4), tiling)
    assert prefetcher.drain()
    first, second = [job for job in jobs if job.reason == "zoom_frame"]
    assert foreseen(first) is None  # a finer frame has begun: it foresees its own
    after = foreseen(second)
    assert after.centre == (4096, 0) and after.scale == 2
    # level 0, which neither frame reads
    assert region_cached(slide, 3584, 0, 512, 512, 2)
    assert state.counters.get("prefetch_jobs", reason="zoom_frame") == 1


def test_a_zoom_frames_own_stored_tiles_are_fetched_at_its_first_request(folder):
    """A viewer asks for a zoom frame's tiles a few at a time, centre first: at the first
    request the stored tiles of the whole frame (centred on it, the screen's size in pixels,
    and half as wide and tall again: a frame zoomed by less than two shows more) are fetched
    at once, and only fetched: demand renders them."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    sid = HE
    jobs = submitted(prefetcher)
    view(prefetcher, slide, sid, 0.0, 0, 0, 4, cols=4, rows=3, tiling=tiling)  # whole slide
    clock.now = 0.5
    prefetcher.end_quiet_bursts()  # the viewer settled on a screen of 1024 x 768 px, scale 4
    assert prefetcher.drain()
    # The frame at scale 2 begins with its centre tile, around (1280, 1280): 2048 x 1536
    # level-0 px (1024 x 768 px at scale 2), 3072 x 2304 with the margin.
    observe(prefetcher, "s1", slide, sid, Request(2.0, 1024, 1024, 512, 512, 2), tiling)
    assert prefetcher.drain()
    assert [job.region for job in jobs if job.reason == "frame_now"] == [
        Viewport(1280 - 1536, 1280 - 1152, 3072, 2304, 2)]
    plan = plan_region(slide, 0, 128, 2816, 2304, 1408, 1152)  # on the slide
    missing, _ = slide.blocks.plan(slide.blocks.indices(slide.tile_ranges(plan.level,
                                                                          plan.coords)))
    assert plan.level == 0 and len(plan.coords) == 11 * 10 and not missing
    assert state.counters.get("prefetch_jobs", reason="frame_now") == 1
    frame = derived(slide, tiling, 256, 512, 2048, 1536, 2)
    assert frame and not state.caches.tiles.peek_many([key for key, _ in frame])
    # The frame's other requests begin no frame again.
    observe(prefetcher, "s1", slide, sid, Request(2.01, 512, 1024, 512, 512, 2), tiling)
    assert prefetcher.drain()
    assert state.counters.get("prefetch_jobs", reason="frame_now") == 1


def jumped(folder, scale, side, to, reason="jump_zoom"):
    """A prefetcher on the H&E slide whose viewer settled on `side` x `side` DZI tiles at
    `scale` from the corner, then jumped to as many from tile `to`: its state, prefetcher,
    slide, job runner, and the jump's `reason` job, not run."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    run, jobs = prefetcher._submit, []
    prefetcher._submit = jobs.append
    view(prefetcher, slide, HE, 0.0, 0, 0, scale, cols=side, rows=side, tiling=tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    view(prefetcher, slide, HE, 2.0, *to, scale, cols=side, rows=side, tiling=tiling)
    (job,) = [job for job in jobs if job.reason == reason]
    return state, prefetcher, slide, run, job


def test_a_jumps_own_screen_is_fetched_at_once(folder):
    """A navigator click asks for the screen where it lands a few tiles at a time, centre
    first, each round waiting on the store for its own: the screen there (as large as the one
    the viewer settled on, about the middle of the jump frame's first round) is fetched at
    once, as a zoom frame's is. (Nothing fetched it: a third of a jump's tiles waited.)"""
    # A screen of 1024 level-0 px square at scale 2; the jump frame's round: 2 x 2 tiles at
    # scale 2 from (2048, 1024), far past it.
    state, prefetcher, slide, run, job = jumped(folder, 2, 2, (4, 2), reason="jump_now")
    assert foreseen(job) == Viewport(2048, 1024, 1024, 1024, 2)
    assert not region_cached(slide, 2048, 1024, 1024, 1024, 2)
    run(job)
    assert prefetcher.drain()
    assert region_cached(slide, 2048, 1024, 1024, 1024, 2)
    assert state.counters.get("prefetch_jobs", reason="jump_now") == 1


def test_a_jump_gets_the_zoom_in_on_where_it_lands_fetched_at_once(folder):
    """A navigator click jumps the screen far off, and a pathologist jumps to a place to look
    closer: at the jump frame, the first frame of a zoom in there (half the screen at half
    the scale, about the middle of the frame's first round) is fetched before it is asked."""
    # A screen of 1024 px square at scale 2; the jump frame's round: 2 x 2 tiles at scale 2
    # from (2048, 1024), far past it.
    state, prefetcher, slide, run, job = jumped(folder, 2, 2, (4, 2))
    assert not region_cached(slide, 2304, 1280, 512, 512, 1)
    run(job)  # alone: the drag strips beside the jump's tiles are others' work
    assert prefetcher.drain()
    assert region_cached(slide, 2304, 1280, 512, 512, 1)
    assert not region_cached(slide, 2048, 1024, 256, 256, 1)
    assert state.counters.get("prefetch_jobs", reason="jump_zoom") == 1
    assert foreseen(job) == Viewport(2304, 1280, 512, 512, 1)


def test_a_jump_foresees_no_zoom_that_reads_a_denser_level_for_its_scale(folder):
    """This slide is stored at 1, 1/4 and 1/16. A screen at scale 4 reads level 1 a pixel for a
    pixel; a zoom from it to scale 2 reads level 0, two pixels along a side for each shown:
    four times the screen's bytes, foreseen at every frame of a jump where at most one is
    followed. Such a zoom is not foreseen (from scale 2 to 1, both reading level 0, it is:
    above)."""
    # A screen of 1024 px square at scale 4; the jump frame's round: one tile at scale 4 from
    # (3072, 2048), far past it.
    state, prefetcher, slide, run, job = jumped(folder, 4, 1, (3, 2))
    assert foreseen(job) is None
    run(job)
    assert prefetcher.drain()
    assert not region_cached(slide, 3328, 2304, 512, 512, 2)


def test_a_session_whose_jumps_go_without_a_zoom_gets_none_foreseen(folder):
    """Jumps foresee a zoom in on where they land until the session's jumps have mostly gone
    without one: after two such, the third foresees none. A zoom in as the next move after a
    jump, in a burst of its own (the reader looked first), counts as following it: then half
    of four jumps did (counting one more), and the next foresees it again, at its end (the
    test below)."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = []
    prefetcher._submit = jobs.append

    def move(t, col0, row0, scale=2):
        """A burst showing 2 x 2 tiles at `scale` from (col0, row0); whether it foresaw a zoom
        at a jump."""
        jobs.clear()
        view(prefetcher, slide, HE, t, col0, row0, scale, cols=2, rows=2, tiling=tiling)
        clock.now = t + 0.5
        prefetcher.end_quiet_bursts()
        return any(job.reason == "jump_zoom" for job in jobs)

    def landed() -> bool:
        """Whether the last move fetched its own screen as a jump's."""
        return any(job.reason == "jump_now" for job in jobs)

    assert not move(0.0, 0, 0)  # the slide's first screen
    assert move(2.0, 4, 2) and landed()
    assert move(4.0, 0, 0) and landed()
    assert not move(6.0, 4, 2)  # two of two went without a zoom
    assert landed()  # where it lands is fetched all the same
    assert not move(8.0, 9, 5, scale=1)  # a zoom in on where the third went
    assert not move(10.0, 4, 2)  # and back out
    assert move(12.0, 0, 0)


def test_a_session_whose_zooms_come_after_a_look_gets_them_foreseen_where_it_settled(folder):
    """A reader who jumps, looks, then zooms in: an animated jump has several frames, each a
    guess at where it lands, and the zoom comes after all of them. Once the session's zooms
    after jumps have come after a look (at least once, and after half its jumps counting one
    more), the jump's end foresees the zoom once, about the screen it settled on; once they
    have mostly not come at once, the jump's frames foresee none."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = []
    prefetcher._submit = jobs.append

    def move(t, col0, row0, scale=2):
        """A burst showing 2 x 2 tiles at `scale` from (col0, row0), then a look: the zooms it
        foresaw at a jump's frame, and at its end."""
        jobs.clear()
        view(prefetcher, slide, HE, t, col0, row0, scale, cols=2, rows=2, tiling=tiling)
        frames = [job for job in jobs if job.reason == "jump_zoom"]
        clock.now = t + 0.5
        prefetcher.end_quiet_bursts()
        return frames, [job for job in jobs if job.reason == "jump_zoom" and job not in frames]

    move(0.0, 0, 0)  # the slide's first screen
    assert move(2.0, 4, 2)[0] and not move(4.0, 9, 5, scale=1)[1]  # a jump, a look, a zoom in
    move(6.0, 4, 2)  # back out
    frames, end = move(8.0, 0, 0)  # of two jumps, none zoomed at once, one after a look
    assert frames and end
    move(10.0, 1, 1, scale=1)  # a look, a zoom in
    move(12.0, 0, 0)
    frames, end = move(14.0, 4, 2)
    assert not frames and len(end) == 1
    # The screen it settled on, 1024 level-0 px square at scale 2: at half the scale, the
    # half of it about its centre.
    assert foreseen(end[0]) == Viewport(2048 + 256, 1024 + 256, 512, 512, 1)


@pytest.mark.parametrize("zoomed_in_cols, reach", [(4, 1.0), (5, 1.25)])
def test_the_margin_of_the_frame_shown_is_what_the_sessions_screens_showed(folder, zoomed_in_cols,
                                                                           reach):
    """Once a session has settled on two zooms, a frame is fetched as much wider than the
    estimate as the widest screen it settled on was: a viewer stepping a level at a time
    (every screen 4 tiles across) gets no margin, one whose zoom in showed 5 tiles across a
    quarter more."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = []
    prefetcher._submit = jobs.append
    screens = [(0, 0, 4, 4), (2, 2, 2, zoomed_in_cols), (0, 0, 4, 4)]  # col0, row0, scale, cols
    for t, (col0, row0, scale, cols) in enumerate(screens):
        view(prefetcher, slide, HE, 2.0 * t, col0, row0, scale, cols=cols, rows=3,
             tiling=tiling)
        clock.now = 2.0 * t + 0.5
        prefetcher.end_quiet_bursts()
    # The shown screen: 1024 x 768 px at scale 4; the frame at scale 2 centred on (1280, 1280).
    jobs.clear()
    observe(prefetcher, "s1", slide, HE, Request(7.0, 1024, 1024, 512, 512, 2), tiling)
    width, height = 2048 * reach, 1536 * reach
    assert [job.region for job in jobs if job.reason == "frame_now"] == [
        Viewport(1280 - width / 2, 1280 - height / 2, width, height, 2)]


@pytest.mark.parametrize("quiet_between", [False, True])
def test_a_later_frame_of_a_zoom_is_fetched_as_large_as_the_frame_before_showed(folder,
                                                                                quiet_between):
    """A continuous zoom shows more of each level than the screen it started from: the
    frame after one whose requests spanned 6 x 4 tiles is fetched 6 x 4 tiles of its own
    level, a quarter wider and taller, not the 4 x 3 of the screen shown. So too when this
    worker's burst ended between the frames (it served none of the first frame's last
    requests) and the next frame comes within `ZOOM_GOES_ON`."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    jobs = []
    prefetcher._submit = jobs.append
    view(prefetcher, slide, HE, 0.0, 0, 0, 4, cols=4, rows=3, tiling=tiling)  # 1024 x 768 px
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    view(prefetcher, slide, HE, 2.0, 1, 1, 2, cols=6, rows=4, tiling=tiling)  # the first frame
    if quiet_between:
        clock.now = 2.2
        prefetcher.end_quiet_bursts()
    jobs.clear()
    observe(prefetcher, "s1", slide, HE, Request(2.3 if quiet_between else 2.12, 2048, 1536,
                                                 256, 256, 1), tiling)
    width, height = 6 * 256 * 1.25, 4 * 256 * 1.25
    assert [job.region for job in jobs if job.reason == "frame_now"] == [
        Viewport(2176 - width / 2, 1664 - height / 2, width, height, 1)]


def test_a_drags_first_request_beyond_the_screen_fetches_the_strip_it_goes_on_into(folder):
    """A drag asks for the strip it uncovers, frame by frame: the first request beyond the
    edge of the screen shown starts the fetch of the strip half a screen deep that way, once a
    burst; requests farther off (a jump) or at another scale start none."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    sid = HE
    view(prefetcher, slide, sid, 0.0, 4, 4, 1, cols=4, rows=3)  # tiles 4-7 x 4-6 at scale 1
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    assert prefetcher.drain()
    east = [(c, r) for c in range(8, 10) for r in range(4, 7)]  # half a screen: two columns
    assert not tiles_cached(slide, 0, east)
    for c, r in ((8, 5), (8, 4)):  # the drag's first frame, a column east of the screen
        observe(prefetcher, "s1", slide, sid, Request(2.0, c * TILE, r * TILE, TILE, TILE, 1))
    assert prefetcher.drain()
    assert tiles_cached(slide, 0, east) and not tiles_cached(slide, 0, [(10, 5)])
    assert state.counters.get("prefetch_jobs", reason="drag") == 1
    clock.now = 2.5
    prefetcher.end_quiet_bursts()  # the screen moved a column east
    observe(prefetcher, "s1", slide, sid, Request(4.0, 12 * TILE, 0, TILE, TILE, 1))  # a jump
    observe(prefetcher, "s1", slide, sid, Request(4.0, 18 * TILE, 10 * TILE, TILE, TILE, 1))
    observe(prefetcher, "s1", slide, sid, Request(4.0, 9 * TILE, 7 * TILE, TILE * 2, TILE * 2,
                                                  2))  # another scale
    assert prefetcher.drain()
    assert state.counters.get("prefetch_jobs", reason="drag") == 1


def test_a_burst_no_watcher_ended_settles_before_the_request_after_its_quiet_gap(folder):
    """Under load the burst watcher may not have run when the viewer's next move begins. The
    request that finds the burst before it quiet ends it first, so it is read against the
    screen that burst settled on: a drag from there is a drag, not a jump from the screen
    before it."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, demand_wait=0.05)
    view(prefetcher, slide, HE, 0.0, 0, 0, 1, cols=4, rows=3)  # tiles 0-3 x 0-2
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    view(prefetcher, slide, HE, 1.0, 10, 6, 1, cols=4, rows=3)  # a jump to 10-13 x 6-8
    assert prefetcher.drain()
    jobs = submitted(prefetcher)
    # A second later, no watcher having run: the column east of the screen jumped to.
    observe(prefetcher, "s1", slide, HE, Request(2.0, 14 * TILE, 7 * TILE, TILE, TILE, 1))
    assert prefetcher.drain()
    assert [job.reason for job in jobs if job.reason in ("drag", "jump_now")] == ["drag"]


def test_a_block_one_worker_prefetched_is_used_when_another_workers_viewer_reads_it(
        folder, memcached):
    """The ledger lives in memcached: blocks worker A prefetched count as used when worker B
    serves them to the viewer, and once only, whoever reads them again."""
    clock = Clock()
    workers = two_workers(folder, memcached, clock)
    (a_state, a), (b_state, b) = workers
    sid = "cases/7/he.tiff"
    slide_a, slide_b = a_state.library.open(sid), b_state.library.open(sid)
    for step in range(3):  # A sees the viewer pan east at full resolution and looks ahead
        clock.now = step * 2.0
        view(a, slide_a, sid, clock.now, step * 2, 4, 1, cols=4, rows=3)
        clock.now += 0.5
        a.end_quiet_bursts()
    assert a.drain()
    fetched = a_state.counters.get("prefetch_bytes")
    assert fetched > 0 and a_state.counters.get("prefetch_used_bytes") == 0
    ahead = [(c, r) for c in range(6, 10) for r in range(4, 7)]
    slide_b.read_tiles(0, ahead)  # the viewer's next requests reach worker B
    assert b.drain()
    used = b_state.counters.get("prefetch_used_bytes")
    assert 0 < used <= fetched
    # The markers in memcached carried the predictors' names to worker B: the pan predicted
    # once the sweep was under way, and the drags' strips (each screen's first request beyond
    # the one before).
    assert b_state.counters.get("prefetch_used_bytes", reason="pan_e", policy="full") > 0
    assert b_state.counters.get("prefetch_used_bytes", reason="pan_e", policy="full") + \
        b_state.counters.get("prefetch_used_bytes", reason="drag", policy="full") == used
    slide_a.read_tiles(0, ahead)  # and again at A: no second count
    assert a.drain() and b.drain()
    assert a_state.counters.get("prefetch_used_bytes") + \
        b_state.counters.get("prefetch_used_bytes") == used


def test_bursts_that_load_coarse_levels_first_are_no_zoom(folder):
    """A slide opening asks for its levels coarse to fine, and a pan asks for a coarser level
    under the strip it uncovers before the screen's own: neither is a zoom animation, so
    neither predicts a frame finer than the screen."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    sid = HE
    for i, scale in enumerate((32, 16, 8, 4, 2)):  # opening: the whole slide, level by level
        observe(prefetcher, "s1", slide, sid, Request(0.01 * i, 0, 0, 4096, 3072, scale), tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    view(prefetcher, slide, sid, 2.0, 0, 0, 2, cols=4, rows=3, tiling=tiling)  # looks at 2
    clock.now = 2.5
    prefetcher.end_quiet_bursts()
    # A pan east: the strip at scale 8 first, then at the screen's scale 2.
    observe(prefetcher, "s1", slide, sid, Request(4.0, 2048, 0, 1024, 2048, 8), tiling)
    observe(prefetcher, "s1", slide, sid, Request(4.01, 2048, 0, 512, 512, 2), tiling)
    assert prefetcher.drain()
    assert state.counters.get("prefetch_jobs", reason="zoom_frame") == 0


def test_workers_sharing_memcached_predict_a_zoom_frame_once(folder, memcached):
    """A zoom's requests reach both workers, each first seeing another tile of the new frame:
    one of them predicts the next frame, the other leaves it."""
    clock = Clock()
    workers = two_workers(folder, memcached, clock)
    sid = "cases/7/he.tiff"
    for state, prefetcher in workers:  # both served part of the screen at scale 8
        slide = state.library.open(sid)
        view(prefetcher, slide, sid, 0.0, 0, 0, 8, cols=2, rows=2)
    clock.now = 0.5
    for _, prefetcher in workers:
        prefetcher.end_quiet_bursts()
    jobs = [submitted(prefetcher) for _, prefetcher in workers]
    for i, (state, prefetcher) in enumerate(workers):  # the zoom: a different tile each
        observe(prefetcher, "s1", state.library.open(sid), sid,
                           Request(2.0 + 0.01 * i, 1024 * i, 1024, 1024, 1024, 4))
    for _, prefetcher in workers:
        assert prefetcher.drain()
    assert len([job for each in jobs for job in each if job.reason == "zoom_frame"]) == 1


def test_zoom_frames_stand_aside_when_the_worker_is_busy(folder):
    clock, state, prefetcher, slide, tiling = on_he_slide(folder, frame_demand=2)
    sid = HE
    for _ in range(3):
        prefetcher.demand_started()  # more demand in flight than frame_demand
    view(prefetcher, slide, sid, 0.0, 0, 0, 8, cols=2, rows=2, tiling=tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    observe(prefetcher, "s1", slide, sid, Request(2.0, 1024, 1024, 1024, 1024, 4), tiling)
    assert prefetcher.drain()
    # Everything stood aside: both zoom frames (this one and the next) at once, the overview
    # after waiting for a pause.
    assert state.counters.get("prefetch_dropped", why="busy") == 5
    # ... each counted under the predictor that asked for it
    assert state.counters.get("prefetch_dropped", why="busy", reason="frame_now") == 1
    assert state.counters.get("prefetch_dropped", why="busy", reason="zoom_frame") == 1
    assert state.counters.get("prefetch_tiles_rendered") == 0
    assert state.counters.get("prefetch_bytes") == 0


def test_a_burst_of_only_the_level_under_the_screen_is_no_move(folder):
    """A blending viewer asks for the level under each screen too, and a worker may get only
    those requests of a burst: it keeps the screen and learns no zoom out from them."""
    clock, state, prefetcher, slide, tiling = on_he_slide(folder)
    sid = HE
    view(prefetcher, slide, sid, 0.0, 4, 2, 2, cols=4, rows=3, tiling=tiling)
    clock.now = 0.5
    prefetcher.end_quiet_bursts()
    session = prefetcher.sessions.touch("s1", sid, clock.now)[0]
    shown = session.viewport
    view(prefetcher, slide, sid, 2.0, 2, 1, 4, cols=2, rows=2, tiling=tiling)  # the level under
    clock.now = 2.5
    prefetcher.end_quiet_bursts()
    assert session.viewport == shown and list(session.model.operations) == []
    view(prefetcher, slide, sid, 4.0, 0, 0, 4, cols=8, rows=6, tiling=tiling)  # a zoom out
    clock.now = 4.5
    prefetcher.end_quiet_bursts()
    assert list(session.model.operations) == ["zoom_out"]
