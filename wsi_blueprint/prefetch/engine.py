"""The prefetcher: turns a session's requests into predictions and warms the caches.

Protocols report each demand image request (`observe`) in level-0 terms. The engine keeps a
small record per viewing session and plans work of three kinds:

- overview: when a session opens a slide, its tile tables (every cold tile read needs its
  entry first) and every tile of its overview levels (small, and the first thing a
  pathologist scans), plus what the clinical-context rules ask for other slides of the case;
- viewport: once a burst of requests has gone quiet (the viewer has settled and is looking),
  for each next operation the operation model is confident of (pan, zoom), the stored tiles
  of the viewport it leads to and, for the nearest, its resampled tiles rendered into the tile
  cache (CPU is idle while the viewer looks; rendering is what a demand request would wait on
  once the bytes are cached);
- zoom frames: the first request finer than the screen shown and than the burst so far is a
  zoom animation's new frame; the next frame's stored tiles (half the scale, same centre) are
  fetched at once, not behind demand: the viewer asks for them a frame later. They are not
  rendered: a frame is 120 ms away, and rendering it competes with the demand renders of the
  frame being shown (measured: p95 45-47 ms without, 53-56 ms with 24 tiles a frame).

Work runs on a few background workers (greenlets under gevent) and stays out of demand's way:
a job waits for a pause in demand requests (dropped if none comes soon: the server is busy),
is dropped when its session has moved on, when it would pass the session's byte budget or the
store request rate limit, while the control loop says the worker is busy, and, with a shared
memcached, when another worker holds the lease on the same range, tile or zoom frame.
Prefetched blocks are entered in a ledger; the block reader reports every read made for a
viewer, so those blocks count as used, and the rest is waste.
"""

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Any, Callable

from ..caches.blocks import background_reads, block_runs, recording_reads
from ..caches.memcached import memcached_key
from ..counters import Counters
from ..errors import WSIError
from ..formats.slide import Slide
from ..imaging.region import plan_region, thumbnail_size
from ..library import SlideLibrary
from .context import SIDECAR, CaseContext, CaseContextProvider
from .controller import Controller, Parameters, Sample
from .ledger import Ledger
from .load_signals import LoadSignals
from .markov import OperationModel
from .policy import policy_for
from .rules import Rule
from .viewport import (Request, Viewport, bounding_box, follow, next_viewport, operation,
                       strides_after)

log = logging.getLogger(__name__)

RENDERED = "tiles"        # the rendered ledger's one namespace: tile keys name their slide
RENDERED_LEDGER = 50_000  # tiles rendered ahead remembered until asked for


@dataclasses.dataclass(frozen=True)
class PrefetchSettings:
    session_budget: int = 50 * 2 ** 20    # bytes a session may prefetch
    rate_per_minute: int = 1000           # store requests all prefetching may make
    concurrency: int = 4                  # background workers
    history: int = 5                      # operations the model learns from
    confidence: float = 0.7               # probability an operation needs to be fetched for
    burst_gap: float = 0.15               # seconds of quiet that end a burst of requests
    render_tiles: int = 64                # resampled tiles one viewport job renders at most
    frame_demand: int = 6                 # zoom frames are skipped above this demand in flight
    overview_tiles: int = 64              # a stored level this small is fetched whole
    session_ttl: float = 900.0
    max_sessions: int = 10_000
    max_queue: int = 256                  # jobs waiting; more are dropped, newest kept
    demand_wait: float = 0.5              # longest a job waits for demand to pause, or is dropped
    policies: tuple = (("full", 1.0),)    # A/B shares of off / viewport / full
    control_period: float = 5.0           # seconds between control loop decisions
    read_size: int = 2 ** 20              # largest store read unit (a multiple of the block)


class RateLimiter:
    """A token bucket of store requests per minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float]):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 6.0)  # at most ten seconds' worth at once
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if n > self.tokens:
                return False
            self.tokens -= n
            return True


@dataclasses.dataclass
class Session:
    key: str
    slide_id: str
    model: OperationModel
    policy: str
    burst: list = dataclasses.field(default_factory=list)  # requests since the last quiet
    finest: float = 0.0  # the finest scale the burst has asked for
    viewport: Viewport | None = None  # the screen shown, followed through pan strips
    predicted: tuple[str, ...] = ()
    strides: tuple[float, float] = (0.0, 0.0)  # the last pan's displacement along x and y
    tiling: Any = None  # how the viewer names tiles (a protocol's), to render them ahead
    spent: int = 0
    generation: int = 0
    seen: float = 0.0


@dataclasses.dataclass(frozen=True)
class Job:
    session: Session
    slide_id: str
    reason: str                  # overview, rule:<name>, thumbnail, metadata, or an operation
    level: int | None = None     # stored level and tiles to warm, or
    coords: tuple = ()
    region: Viewport | None = None  # a region to plan at its scale
    generation: int | None = None   # for viewport jobs: dropped once the session moves on
    render: bool = False            # also render the region's resampled tiles
    urgent: bool = False            # asked for within a frame: does not wait behind demand


class Prefetcher:
    def __init__(self, library: SlideLibrary, counters: Counters, settings: PrefetchSettings,
                 rules: list[Rule] = (), context: CaseContextProvider | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.library = library
        self.counters = counters
        self.settings = settings
        self.rules = list(rules)
        self.context = context
        self.clock = clock
        self.limiter = RateLimiter(settings.rate_per_minute, clock)
        shared = library.caches.shared
        self.ledger = Ledger(counters, "prefetch_used_bytes", shared)
        self.rendered = Ledger(counters, "prefetch_tiles_used", shared, limit=RENDERED_LEDGER,
                               on_use=self._rendering_used)
        # Blocks a viewer's read brought beyond what it asked for (the read size's rounding).
        self.read_ahead = Ledger(counters, "read_ahead_used_bytes", shared)
        library.on_block_read = self._block_read  # for slides opened from now on
        library.on_read_ahead = lambda namespace, items: self.read_ahead.add(namespace, items)
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self._open_bursts: dict[str, Session] = {}
        self._watcher: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._demand = 0
        self._demand_paused = threading.Condition(self._lock)
        self._pending = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.controller = Controller(
            Parameters(read_size=max(library.block_size, settings.read_size)),
            on_change=lambda name, old, new: counters.inc("prefetch_control_changes",
                                                          parameter=name),
            block_size=library.block_size, max_read=settings.read_size)
        library.read_size = self.controller.parameters.read_size
        self.load = LoadSignals()
        self._period_start = clock()
        self._period_counts = self._control_counts()
        self._demand_samples: list[int] = []

    # -- what protocols call -------------------------------------------------------------

    def _block_read(self, namespace: str, indices: list[int]) -> None:
        self.ledger.use(namespace, indices)
        self.read_ahead.use(namespace, indices)

    @staticmethod
    def _blocks_note(read: dict[str, set[int]]) -> str:
        """The blocks a rendering read (`recording_reads`), as a rendered tile's ledger note:
        a line per object, its namespace and the block indices."""
        return "\n".join(f"{namespace} {','.join(map(str, sorted(indices)))}"
                         for namespace, indices in read.items())

    def _rendering_used(self, note: str) -> None:
        """A viewer got a tile rendered ahead: it used the blocks that rendering read."""
        for line in note.split("\n"):
            namespace, _, indices = line.rpartition(" ")
            self._block_read(namespace, [int(i) for i in indices.split(",")])

    def demand_started(self) -> None:
        with self._lock:
            self._demand += 1

    def demand_ended(self) -> None:
        with self._lock:
            self._demand -= 1
            if self._demand == 0:
                self._demand_paused.notify_all()

    def observe(self, session_key: str, slide: Slide, slide_id: str, request: Request,
                tiling: Any = None) -> str:
        """A demand request was served; plan what comes next. Cheap: the work is queued.
        `tiling` names the viewer's tiles (see `protocols.dzi.DziTiling`); without one only
        blocks are prefetched. Returns the session's A/B policy, for the request's metrics."""
        session, opened = self._session(session_key, slide_id)
        self._control()
        if session.policy == "off":
            return session.policy
        session.tiling = tiling
        self._watch_bursts()
        if opened and session.policy == "full":
            self._plan_overview(session, slide, slide_id)
        ended = frame = None
        with self._lock:
            if session.burst and request.time - session.burst[-1].time > self.settings.burst_gap:
                ended, session.burst = session.burst, []
            # A zoom frame is finer than both the screen the viewer settled on and the burst
            # so far: a burst that loads coarse levels first, then the screen's own (a pan,
            # a slide opening), is no zoom.
            shown = session.viewport
            if shown is not None and request.scale < shown.scale / 1.5 and \
                    (not session.burst or request.scale < session.finest / 1.5):
                frame = self._next_zoom_frame(shown, request)
            if not session.burst or request.scale < session.finest:
                session.finest = request.scale
            session.burst.append(request)
            del session.burst[:-256]  # a very long burst keeps its latest requests
            self._open_bursts[session.key] = session
        if ended:
            self._burst_ended(session, ended)
        # (Never with `ended`: a frame is found inside a burst.)
        # Every worker serving the viewer's connections sees the zoom, each from another
        # first request: only the first to see it predicts the next frame, or each would
        # fetch its own, differently centred one.
        if frame is not None and self._lease(
                "frame-lease", f"{session.key}|{session.slide_id}|{frame.scale:g}", 5):
            self._submit(Job(session, slide_id, "zoom_frame", region=frame,
                             generation=session.generation, urgent=True))
        return session.policy

    @staticmethod
    def _next_zoom_frame(shown: Viewport, first: Request) -> Viewport | None:
        """The frame after the one `first` begins: OpenSeadragon zooms a factor of two a frame
        and asks for each frame's tiles centre first, so the next frame is centred on `first`,
        at half its scale, and as many screen pixels as the screen shown."""
        scale = first.scale / 2
        if scale < 1:
            return None
        width, height = (shown.width * scale / shown.scale, shown.height * scale / shown.scale)
        cx, cy = first.x + first.width / 2, first.y + first.height / 2
        return Viewport(cx - width / 2, cy - height / 2, width, height, scale)

    def end_quiet_bursts(self) -> None:
        """Bursts without a request for `burst_gap` are over: the viewer has settled on a view
        and looks at it, which is the time to fetch for its next move."""
        now = self.clock()
        with self._lock:
            quiet = [s for s in self._open_bursts.values()
                     if now - s.seen > self.settings.burst_gap]
            ended = []
            for session in quiet:
                del self._open_bursts[session.key]
                if session.burst:
                    ended.append((session, session.burst))
                    session.burst = []
        for session, burst in ended:
            self._burst_ended(session, burst)

    def _watch_bursts(self) -> None:
        """Starts, once, the loop that ends quiet bursts (a greenlet under gevent)."""
        if self._watcher is not None:
            return
        with self._lock:
            if self._watcher is None and not self._closed:
                self._watcher = threading.Thread(target=self._watch_loop, daemon=True,
                                                 name="wsi-prefetch-bursts")
                self._watcher.start()

    def _watch_loop(self) -> None:
        while not self._closed:
            time.sleep(self.settings.burst_gap / 3)
            try:
                self.end_quiet_bursts()
                self._settle()
            except Exception:  # a bug here must not end prefetching for the process
                log.exception("ending quiet bursts or settling the ledgers failed")

    def _settle(self) -> None:
        for ledger in (self.rendered, self.ledger, self.read_ahead):  # tiles name blocks
            ledger.settle()

    def _burst_ended(self, session: Session, burst: list[Request]) -> None:
        """The viewer moved: learn the operation and fetch for what follows."""
        with self._lock:
            before = session.viewport
            view = session.viewport = follow(before, bounding_box(burst))
            op = operation(before, view) if before is not None else None
            if op is None:
                return
            hit = op in session.predicted
            step = (view.x - before.x, view.y - before.y)
            session.strides = strides_after(session.strides, op, step)
            strides = session.strides
            session.model.record(op)
            session.generation += 1
            generation = session.generation
            predicted = session.predicted = tuple(session.model.confident())
        self.counters.inc("prefetch_predictions", policy=session.policy,
                          outcome="hit" if hit else "miss")
        for rank, next_op in enumerate(predicted):
            # The next view, then as many more as the control loop's depth asks for; the
            # nearest view of the likeliest operation is also rendered, no more: rendering
            # ahead holds the CPU when the viewer moves on, and more of it has not lowered
            # p95 in any measurement (a whole screen instead of 64 tiles raised it).
            target = view
            for depth in range(1, self.controller.parameters.depth + 1):
                target = next_viewport(target, next_op, step, last_op=op, strides=strides)
                if target is None or target.scale < 1:
                    break
                self._submit(Job(session, session.slide_id, next_op, region=target,
                                 generation=generation, render=depth == 1 and rank == 0))

    # -- the control loop ------------------------------------------------------------------

    def _control_counts(self) -> dict[str, float]:
        c = self.counters
        return {name: c.get(name) for name in (
            "store_requests", "store_seconds", "store_errors", "block_runs",
            "block_runs_sequential", "read_ahead_bytes", "read_ahead_used_bytes")} | {
            "hits": c.get("cache_hits", cache="blocks"),
            "misses": c.get("cache_misses", cache="blocks")} | self.load.readings()

    def _control(self) -> None:
        """Once a period: measure, let the controller decide, apply."""
        with self._lock:
            self._demand_samples.append(self._demand)
            now = self.clock()
            if now - self._period_start < self.settings.control_period:
                return
            self._period_start = now
            counts, before = self._control_counts(), self._period_counts
            self._period_counts = counts
            demand = sum(self._demand_samples) / len(self._demand_samples)
            self._demand_samples = []
        self.load.start()  # once; not in __init__, which may run before gevent patches
        delta = {k: counts[k] - before[k] for k in counts}
        requests = max(delta["store_requests"], 1)
        lookups = delta["hits"] + delta["misses"]
        parameters = self.controller.update(Sample(
            store_latency_ms=1000 * delta["store_seconds"] / requests,
            store_error_rate=delta["store_errors"] / (requests + delta["store_errors"]),
            block_hit_rate=delta["hits"] / lookups if lookups else 1.0,
            sequential_share=(delta["block_runs_sequential"] / delta["block_runs"]
                              if delta["block_runs"] else 0.45),
            demand_in_flight=demand,
            loop_lag_ms=(1000 * delta["lag_seconds"] / delta["wakeups"]
                         if delta["wakeups"] else 0.0),
            cpu_share=delta["cpu_seconds"] / max(delta["wall_seconds"], 1e-6),
            read_ahead_use=(min(1.0, delta["read_ahead_used_bytes"] / delta["read_ahead_bytes"])
                            if delta["read_ahead_bytes"] else None)))
        self.library.read_size = parameters.read_size

    # -- planning --------------------------------------------------------------------------

    def _session(self, key: str, slide_id: str) -> tuple[Session, bool]:
        now = self.clock()
        with self._lock:
            session = self._sessions.get(key)
            opened = session is None or session.slide_id != slide_id
            if opened:
                session = Session(key, slide_id, OperationModel(self.settings.history,
                                                                self.settings.confidence),
                                  policy_for(key, list(self.settings.policies)))
                self._sessions[key] = session
            session.seen = now
            self._sessions.move_to_end(key)
            while self._sessions and (
                    len(self._sessions) > self.settings.max_sessions or
                    now - next(iter(self._sessions.values())).seen > self.settings.session_ttl):
                self._sessions.popitem(last=False)
        return session, opened

    def _overview_levels(self, slide: Slide) -> list[int]:
        levels = [i for i in range(len(slide.levels))
                  if slide.tile_grid(i)[0] * slide.tile_grid(i)[1] <= self.settings.overview_tiles]
        return levels or [len(slide.levels) - 1]

    def _overview_jobs(self, session: Session, slide: Slide, slide_id: str,
                       reason: str) -> list[Job]:
        jobs = []
        for level in self._overview_levels(slide):
            columns, rows = slide.tile_grid(level)
            jobs.append(Job(session, slide_id, reason, level=level,
                            coords=tuple((c, r) for r in range(rows) for c in range(columns))))
        return jobs

    def _plan_overview(self, session: Session, slide: Slide, slide_id: str) -> None:
        self._submit(Job(session, slide_id, "tables"))
        for job in self._overview_jobs(session, slide, slide_id, "overview"):
            self._submit(job)
        if self.rules and self.context is not None:
            self._submit(Job(session, slide_id, "rules"))

    # -- running ---------------------------------------------------------------------------

    def _submit(self, job: Job) -> None:
        with self._lock:
            if self._pending >= self.settings.max_queue:
                self.counters.inc("prefetch_dropped", why="queue", policy=job.session.policy)
                return
            self._pending += 1
            if self._pool is None:  # made on first use, after gevent has patched threading
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.settings.concurrency, thread_name_prefix="wsi-prefetch")
        self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        try:
            if self.controller.parameters.throttled:
                self.counters.inc("prefetch_dropped", why="throttled", policy=job.session.policy)
                return
            if job.urgent and self._demand > self.settings.frame_demand:
                self.counters.inc("prefetch_dropped", why="busy", policy=job.session.policy)
                return
            if not job.urgent and not self._demand_pauses(job):
                return
            if job.generation is not None and job.generation != job.session.generation:
                self.counters.inc("prefetch_cancelled", policy=job.session.policy)
                return
            with background_reads():  # not a viewer's: the ledger does not count them as used
                self._do(job)
        except WSIError:
            self.counters.inc("prefetch_dropped", why="error", policy=job.session.policy)
        finally:
            with self._lock:
                self._pending -= 1

    def _demand_pauses(self, job: Job) -> bool:
        """Waits until no demand request is in flight; False (the job dropped) if demand does
        not pause within `demand_wait`: a server that busy has no room for guesses."""
        with self._lock:
            if self._demand_paused.wait_for(lambda: self._demand == 0,
                                            timeout=self.settings.demand_wait):
                return True
        self.counters.inc("prefetch_dropped", why="busy", policy=job.session.policy)
        return False

    def _do(self, job: Job) -> None:
        if job.reason == "rules":
            self._apply_rules(job)
            return
        slide = self.library.open(job.slide_id)
        if job.reason == "metadata":
            return  # opening it parsed and cached the index
        if job.reason == "tables":
            self._warm(job, slide, slide.table_ranges())
            return
        if job.region is not None:
            plan = self._plan_region(slide, job.region)
            if plan is None:
                return
            level, coords = plan
        else:
            level, coords = job.level, list(job.coords)
        if self._warm(job, slide, slide.tile_ranges(level, list(coords))) and job.render:
            self._render(job, slide)

    @staticmethod
    def _plan_region(slide: Slide, view: Viewport) -> tuple[int, list] | None:
        width, height = slide.index.width, slide.index.height
        x0, y0 = max(0, int(view.x)), max(0, int(view.y))
        x1, y1 = min(width, int(view.x + view.width)), min(height, int(view.y + view.height))
        if x1 <= x0 or y1 <= y0:
            return None
        out_w = max(1, round((x1 - x0) / view.scale))
        out_h = max(1, round((y1 - y0) / view.scale))
        plan = plan_region(slide, x0, y0, x1 - x0, y1 - y0, out_w, out_h)
        return plan.level, plan.coords

    def _warm(self, job: Job, slide: Slide, ranges: list[tuple[int, int]]) -> bool:
        """Fetches the blocks of `ranges` not cached yet; True if they all are now. The read
        size rounds the fetch out to whole read units: their other blocks count against the
        budget and, like any read's, in the read-ahead ledger (`BlockReader`)."""
        blocks = slide.blocks
        missing, ahead = blocks.plan(blocks.indices(ranges))
        if not missing:
            return True
        asked = {i: blocks.length(i) for i in missing}
        size = sum(asked.values()) + sum(map(blocks.length, ahead))
        runs = block_runs(sorted(missing + ahead))
        policy = job.session.policy
        if job.session.spent + size > self.settings.session_budget:
            self.counters.inc("prefetch_dropped", why="budget", policy=policy)
            return False
        if not self._lease("prefetch-lease",
                           f"{blocks.namespace}|{runs[0][0]}-{runs[-1][1]}", 10):
            self.counters.inc("prefetch_dropped", why="leased", policy=policy)
            return False
        if not self.limiter.take(len(runs)):
            self.counters.inc("prefetch_dropped", why="rate", policy=policy)
            return False
        job.session.spent += size
        blocks.blocks(missing)
        reason = job.reason.split(":")[0]
        self.ledger.add(blocks.namespace, asked, {"policy": policy, "reason": reason})
        self.counters.inc("prefetch_jobs", reason=reason, policy=policy)
        self.counters.inc("prefetch_bytes", sum(asked.values()), policy=policy, reason=reason)
        self.counters.inc("prefetch_store_requests", len(runs), policy=policy)
        return True

    def _render(self, job: Job, slide: Slide) -> None:
        """Renders the resampled tiles of the job's region into the tile cache, one at a time,
        each after demand requests in flight. Their bytes are cached (`_warm`), so this is CPU
        work only, never a store request outside the budget and rate limit."""
        tiling, view = job.session.tiling, job.region
        if tiling is None:
            return
        tiles = tiling.derived_tiles(slide, view.x, view.y, view.width, view.height,
                                     view.scale)
        cache = self.library.caches.tiles
        cached = cache.peek_many([key for key, _ in tiles])
        missing = [(key, render) for key, render in tiles if key not in cached]
        for key, render in missing[:self.settings.render_tiles]:
            if not self._demand_pauses(job):
                return
            if job.generation != job.session.generation:
                self.counters.inc("prefetch_cancelled", policy=job.session.policy)
                return
            # A viewer's connections reach several workers, each of which sees the session
            # move: only one of them renders a tile.
            if not self._lease("render-lease", key, 10):
                continue
            # Through the cache's single flight: a demand request for the same tile meanwhile
            # waits for this rendering instead of doing it again.
            cache.flights.do(key, lambda: self._render_one(cache, key, render, job),
                             cache.wait_timeout)

    def _render_one(self, cache, key: str, render: Callable[[], bytes], job: Job) -> bytes:
        with recording_reads() as read:
            data = render()
        cache.set(key, data)
        self.rendered.add(RENDERED, {key: 1}, {"policy": job.session.policy},
                          notes={key: self._blocks_note(read)})
        self.counters.inc("prefetch_tiles_rendered", policy=job.session.policy)
        return data

    def tile_asked(self, key: str) -> None:
        """A viewer asked for an image by its cache key: if it was rendered ahead, it is used."""
        self.rendered.use(RENDERED, [key])

    def _lease(self, kind: str, name: str, seconds: int) -> bool:
        """With a shared memcached, True for one worker only, the first to ask within
        `seconds` (a block run to fetch, a tile to render, a zoom frame to predict); without
        one, always True."""
        shared = self.library.caches.shared
        return shared is None or shared.add(memcached_key(kind, name), b"1", expire=seconds)

    # -- clinical context ------------------------------------------------------------------

    def _apply_rules(self, job: Job) -> None:
        context = self.context(job.slide_id)
        if context is None:
            return
        stain = context.stain_of(job.slide_id)
        for rule in self.rules:
            if not rule.matches(stain, context.case_type):
                continue
            for target in self._targets(rule, context, job.slide_id):
                self.counters.inc("prefetch_rule_slides", rule=rule.name,
                                  policy=job.session.policy)
                self._warm_related(job.session, rule, target)

    def _targets(self, rule: Rule, context: CaseContext, opened: str) -> list[str]:
        if rule.source == "same_case":
            return [sid for sid, stain in context.stains.items()
                    if sid != opened and rule.wants(stain)]
        if context.prior_case is None:
            return []
        prior = self.context(context.prior_case + SIDECAR)  # any id in the folder will do
        if prior is not None and prior.stains:
            return [sid for sid, stain in prior.stains.items() if rule.wants(stain)]
        page = self.library.store.list(prefix=context.prior_case, limit=50)
        return [info.id for info in page.slides]

    def _warm_related(self, session: Session, rule: Rule, slide_id: str) -> None:
        try:
            slide = self.library.open(slide_id)  # metadata: parsed and cached
        except WSIError:
            return
        if "thumbnail" in rule.what:
            width, height = thumbnail_size(slide.index.width, slide.index.height, 512)
            scale = slide.index.width / width
            self._do(Job(session, slide_id, f"rule:{rule.name}", region=Viewport(
                0, 0, slide.index.width, slide.index.height, scale)))
        if "overview" in rule.what:
            for job in self._overview_jobs(session, slide, slide_id, f"rule:{rule.name}"):
                self._do(job)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no prefetch work is queued or running (tests). With memcached, then a
        moment more: stores go unanswered (`MemcachedTier.set_many`), and another worker
        looking for what this one stored must find it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = self._pending == 0
            if idle:
                if self.library.caches.shared is not None:
                    time.sleep(0.01)
                self._settle()
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self._closed = True
        self.load.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
