"""The prefetcher: turns a session's requests into predictions and warms the caches.

Protocols report each demand image request (`observe`) in level-0 terms, with the reader that
served it and, where the viewer asks for tiles of a grid, its `Tiling`. The engine keeps a
small record per viewing session (`sessions`), reads each request into the session's burst
(`bursts`: what it ends, and what it begins) and plans work of these kinds:

- overview: when a session opens a slide, its tile tables (every cold tile read needs its
  entry first) and every tile of its overview levels (small, and the first thing a
  pathologist scans), plus what the clinical-context rules (`case_rules`) ask for other
  slides of the case;
- viewport: once a burst of requests has gone quiet (the viewer has settled and is looking),
  for each next operation the operation model is confident of (pan, zoom), the stored tiles
  of the viewport it leads to and, for the nearest, its resampled tiles rendered into the tile
  cache (`render_ahead`: CPU is idle while the viewer looks, and rendering is what a demand
  request would wait on once the bytes are cached), for DZI and IIIF viewers alike;
- zoom frames: the first request finer than the screen shown and than the burst so far is a
  zoom animation's new frame; that frame's stored tiles (with a margin: a frame zoomed by less
  than two shows more than the screen's size) are fetched at once, and the next frame's (half
  the scale; at a zoom's first frame about that frame, as a click zooms a level and the next
  click may land anywhere; once the zoom goes on, wherever its last step takes its centre,
  from not at all to as far again, whole, with a later frame's margin) as soon as the frame's
  first round has come in, not behind demand: the viewer asks for the first a few at a time,
  and for the next a frame later. The next frame's resampled tiles are rendered once demand
  pauses between two frames, not beside the demand renders of the frame being shown. After a
  move within the burst to a coarser scale, a finer level may be one step of a viewer filling
  the levels under its new screen coarse first: its frame (the screen at that level) is fetched
  only if no finer one has begun by the time it would be foreseen, and the settled screen's own
  scale ends the walk;
- jumps: a request far off the screen shown, at its scale, is a jump's frame (a navigator
  click); the screen where it lands (about the frame's first round) is fetched at once, as a
  zoom frame's is, and so is the first frame of a zoom in there (half the scale), since a
  reader jumps to a place to look closer, unless the session's jumps have mostly gone
  without a zoom at once, or the zoom reads a stored level denser for its scale than the
  jump's screen (where levels are a factor of four apart: four times a screen's bytes at each
  of a jump's frames, of which one is followed). Where the session's zooms after jumps come
  after a look, the jump's end foresees the zoom instead, about the screen it settled on;
- drags: the first request of a burst beyond an edge of the screen shown (at its scale, less
  than half a screen off) is a drag's first frame; the strip past that edge (as deep as the
  last pan along that axis, at most a screen; half a screen before any) is fetched at once,
  as the drag's later frames and its glide go on into it.

Work runs on a few background workers (greenlets under gevent) and stays out of demand's way
(`admission`): a job waits for a pause in demand requests (dropped if none comes soon: the
server is busy), is dropped when its session has moved on, when it would pass the session's
byte budget or the store request rate limit, while the control loop says the worker is busy,
and, with a shared memcached, when another worker holds the lease on the same range, tile or
zoom frame. The blocks a job fetched itself (not those a viewer's read was already fetching)
are entered in a ledger; the block reader reports every read made for a viewer, so those
blocks count as used, and the rest is waste.
"""

import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Callable

from ..caches.blocks import background_reads
from ..counters import Counters
from ..errors import WSIError
from ..reader import Readers, SlideReader, Tiling
from .admission import DemandGate, Leases, RateLimiter
from .bursts import Read, quiet_burst, read_request
from .case_rules import CaseRules
from .context import CaseContextProvider
from .control_loop import ControlLoop
from .controller import Controller, Parameters
from .frames import has_next_frame, latest_frame, next_zoom_frame, zoom_frame
from .jumps import landing_round, move_ended, screen_at_landing, zoom_after_jump, \
    zooms_after_a_look
from .ledger import Ledger
from .render_ahead import RenderAhead
from .rules import Rule
from .sessions import Job, Session, Sessions
from .settings import PrefetchSettings
from .viewport import ZOOM_IN, ZOOM_OUT, Request, Viewport, bounding_box, centred_on, follow, \
    middle, next_viewport, operation, same_scale, strides_after, under

log = logging.getLogger(__name__)

# Seconds a next frame's prediction waits for the rest of the frame's first round to reach
# this worker: the round's requests come at once, in any order, and its middle is the frame's.
FRAME_SETTLE = 0.02


class Prefetcher:
    def __init__(self, readers: Readers, counters: Counters, settings: PrefetchSettings,
                 rules: list[Rule] = (), context: CaseContextProvider | None = None,
                 clock: Callable[[], float] = time.monotonic, leases: Leases | None = None,
                 watch: bool = True):
        """`leases` default to memcached's, shared by the workers that share it; without
        `watch`, the caller ends quiet bursts itself (`end_quiet_bursts`), as a replay on a
        clock of its own does."""
        library = readers.library
        self.readers = readers
        self.library = library
        self.counters = counters
        self.settings = settings
        self.clock = clock
        self.limiter = RateLimiter(settings.rate_per_minute, clock)
        self.leases = leases or Leases(library.caches.shared)
        self._watch = watch
        self.case_rules = CaseRules(rules, context, lambda prefix, limit: [
            info.id for info in library.store.list(prefix=prefix, limit=limit).slides])
        self.ledger = Ledger(counters, "prefetch_used_bytes", library.caches.shared)
        self.ahead = RenderAhead(library.caches.tiles, counters, self.leases, self._block_read,
                                 settings.render_tiles)
        # Blocks a viewer's read brought beyond what it asked for (the read size's rounding).
        self.read_ahead = Ledger(counters, "read_ahead_used_bytes", library.caches.shared)
        library.listen(self._block_read,  # for slides opened from now on
                       lambda namespace, items: self.read_ahead.add(namespace, items))
        self._lock = threading.Lock()
        self.sessions = Sessions(settings.history, settings.confidence, settings.policies,
                                 settings.session_ttl, settings.max_sessions, self._lock)
        self._open_bursts: dict[tuple[str, str], Session] = {}
        self._watcher: threading.Thread | None = None
        self._closed = False
        self.demand = DemandGate(self._lock)
        self._pending = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.controller = Controller(
            Parameters(read_size=max(library.block_size, settings.read_size)),
            on_change=lambda name, old, new: counters.inc("prefetch_control_changes",
                                                          parameter=name),
            block_size=library.block_size, max_read=settings.read_size)
        library.read_size = self.controller.parameters.read_size
        self.control = ControlLoop(counters, self.controller, settings.control_period, clock,
                                   self._lock)

    # -- what protocols call -------------------------------------------------------------

    def _block_read(self, namespace: str, indices: list[int]) -> None:
        self.ledger.use(namespace, indices)
        self.read_ahead.use(namespace, indices)

    def demand_started(self) -> None:
        self.demand.started()

    def demand_ended(self) -> None:
        self.demand.ended()

    def tile_asked(self, key: str) -> None:
        """A viewer asked for an image by its cache key: if it was rendered ahead, it is used."""
        self.ahead.asked(key)

    def observe(self, session_key: str, reader: SlideReader, request: Request,
                tiling: Tiling | None = None) -> str:
        """A demand request was served; plan what comes next. Cheap: the work is queued.
        `tiling` names the viewer's tiles; until one has, only blocks are prefetched. Returns the
        session's A/B policy, for the request's metrics."""
        slide_id = reader.slide_id
        session, opened = self.sessions.touch(session_key, slide_id, self.clock())
        parameters = self.control.tick(self.demand.in_flight)
        if parameters is not None:
            self.library.read_size = parameters.read_size
        if session.policy == "off":
            return session.policy
        if tiling is not None:
            # A viewer keeps its grid; a request off it (a thumbnail, an edge tile a IIIF 2
            # viewer sizes by width alone) must not stop its tiles being rendered ahead.
            session.tiling = tiling
        self._watch_bursts()
        if opened and session.policy == "full":
            self._plan_overview(session, reader)
        with self._lock:
            ended = quiet_burst(session, request, self.settings.burst_gap)
        # The watcher had not ended it yet (it looks every third of the gap, and later under
        # load): the burst settles first, so that this request is read against the screen it
        # settled on, as it would have been had the watcher run.
        if ended:
            self._burst_ended(session, ended)
        with self._lock:
            read = read_request(session, request)
            self._open_bursts[session.reading] = session
        self._plan_begun(session, reader, request, read)
        return session.policy

    def _plan_begun(self, session: Session, reader: SlideReader, request: Request,
                    read: Read) -> None:
        """Jobs for what `request` began (`read`): a zoom frame's tiles and its next frame's, a
        jump's screen and the zoom in there, a drag's strip."""
        slide_id = reader.slide_id
        # Every worker serving the viewer's connections sees the zoom, each from another
        # first request: only the first to see it predicts the next frame, or each would
        # fetch its own, differently centred one.
        if read.frame is not None and self.leases.take(
                "frame-lease", f"{session.key}|{session.slide_id}|{request.scale:g}", 5):
            # This frame's stored tiles at once, as one fetch: the viewer asks for them six at
            # a time, and each round would otherwise wait on the store for its own. Rendering
            # them is demand's.
            region, margin = read.frame
            if read.walking:  # fetched only if no finer level has begun by the time it runs
                self._submit(Job(session, slide_id, "frame_now", generation=session.generation,
                                 urgent=True, foresee=lambda: region if self._latest_frame(
                                     session, request) else None))
            else:
                self._submit(Job(session, slide_id, "frame_now", region=region,
                                 generation=session.generation, urgent=True))
            # The next frame is foreseen from the middle of this one's first round, which
            # reaches the workers in any order: its first request may be a tile off centre.
            if has_next_frame(region):
                self._submit(Job(session, slide_id, "zoom_frame",
                                 generation=session.generation, render=True, urgent=True,
                                 foresee=lambda: self._next_frame(session, reader, read.shown,
                                                                  margin, request)))
        # A jump's frame: its screen at once, as a zoom frame's, and the zoom in on where it
        # lands, both about the frame's first round. Each worker serving the frame foresees
        # them about the requests it saw; the blocks they share are fetched once
        # (`BlockReader.fetch` leases each on the shared tier).
        if read.jump is not None:
            self._submit(Job(session, slide_id, "jump_now", generation=session.generation,
                             urgent=True, foresee=lambda: self._jump_landing(
                                 session, reader, read.jump, request)))
        if read.zoom_at_jump:
            self._submit(Job(session, slide_id, "jump_zoom", generation=session.generation,
                             urgent=True, foresee=lambda: self._zoom_at_jump(
                                 session, reader, read.jump, request)))
        # A drag's first frame: the rest of the drag is fetched now, not with its next frame.
        if read.drag is not None and self.leases.take(
                "drag-lease", f"{session.key}|{session.slide_id}|{read.drag[0]}|"
                              f"{read.shown.x:g},{read.shown.y:g},{read.shown.scale:g}", 5):
            self._submit(Job(session, slide_id, "drag", region=read.drag[1],
                             generation=session.generation, urgent=True))

    def _latest_frame(self, session: Session, first: Request) -> bool:
        with self._lock:
            return latest_frame(session, first)

    def _next_frame(self, session: Session, reader: SlideReader, shown: Viewport,
                    margin: float, first: Request) -> Viewport | None:
        """The frame after the zoom frame `first` began, from the frame's requests this worker
        has seen by now (called `FRAME_SETTLE` after the frame began); None once a finer frame
        has begun, which foresees its own."""
        with self._lock:
            if not latest_frame(session, first):
                return None
            frame = zoom_frame([shown], session.frame)
            after = next_zoom_frame(frame, session.came_from or frame.centre)
        if after is None:
            return None
        index = reader.info()
        return centred_on(after, index.width, index.height).grown(margin)

    def _jump_landing(self, session: Session, reader: SlideReader, screen: Viewport,
                      first: Request) -> Viewport | None:
        """The screen the jump frame `first` begins lands on, from the frame's requests this
        worker has seen by now; None once another jump frame has begun."""
        with self._lock:
            landing = landing_round(session, first)
            if landing is None:
                return None
            landed = screen_at_landing(session, screen, landing)
        index = reader.info()
        return centred_on(landed, index.width, index.height)

    def _zoom_at_jump(self, session: Session, reader: SlideReader, screen: Viewport,
                      first: Request) -> Viewport | None:
        """The first frame of a zoom in on where the jump frame `first` begins lands, from the
        frame's requests this worker has seen by now; None once another jump frame or the
        zoom itself has begun, or where the zoom costs more stored pixels a screen."""
        with self._lock:
            landing = landing_round(session, first)
        if landing is None:
            return None
        return self._zoom_worth_foreseeing(reader, screen, zoom_after_jump(screen, middle(landing)))

    @staticmethod
    def _zoom_worth_foreseeing(reader: SlideReader, screen: Viewport,
                               frame: Viewport | None) -> Viewport | None:
        """`frame`, a zoom in's first frame from `screen` foreseen at a jump, on the slide;
        None where the zoom reads a level denser for its scale than the screen reads (levels a
        factor of four apart): four times a screen's bytes, on a zoom that may not come."""
        if frame is None or reader.stored_per_shown(frame.scale) > \
                1.5 * reader.stored_per_shown(screen.scale):
            return None
        index = reader.info()
        return centred_on(frame, index.width, index.height)

    # -- bursts ----------------------------------------------------------------------------

    def end_quiet_bursts(self) -> None:
        """Bursts without a request for `burst_gap` are over: the viewer has settled on a view
        and looks at it, which is the time to fetch for its next move."""
        now = self.clock()
        with self._lock:
            quiet = [s for s in self._open_bursts.values()
                     if now - s.seen > self.settings.burst_gap]
            ended = []
            for session in quiet:
                del self._open_bursts[session.reading]
                if session.burst:
                    ended.append((session, session.burst))
                    session.burst = []
        for session, burst in ended:
            self._burst_ended(session, burst)

    def _watch_bursts(self) -> None:
        """Starts, once, the loop that ends quiet bursts (a greenlet under gevent)."""
        if self._watcher is not None or not self._watch:
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
        for ledger in (self.ahead.rendered, self.ledger, self.read_ahead):  # tiles name blocks
            ledger.settle()

    def _burst_ended(self, session: Session, burst: list[Request]) -> None:
        """The viewer moved: learn the operation and fetch for what follows."""
        box = bounding_box(burst)
        last = next(r for r in reversed(burst) if same_scale(r.scale, box.scale))
        with self._lock:
            before = session.viewport
            if before is not None and under(before, box):
                return  # the coarser level blended in under the screen: it has not moved
            view = session.viewport = follow(before, box, middle([last]))
            session.widest = (max(session.widest[0], view.width / view.scale),
                              max(session.widest[1], view.height / view.scale))
            op = operation(before, view) if before is not None else None
            if op is None:
                return
            move_ended(session, burst)
            zoom = zoom_after_jump(view, view.centre) if zooms_after_a_look(session, burst) \
                else None
            session.zooms += op in (ZOOM_IN, ZOOM_OUT)
            if op == ZOOM_IN:
                session.zoomed_in = burst[-1].time
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
        # About the screen's centre: the viewer has not said where yet. Its cost is weighed as
        # the job runs, which opens the reader: a slide gone meanwhile drops the job, not the
        # watcher.
        if zoom is not None:
            self._submit(Job(session, session.slide_id, "jump_zoom", generation=generation,
                             foresee=lambda: self._zoom_worth_foreseeing(
                                 self.readers.open(session.slide_id), view, zoom)))
        for rank, next_op in enumerate(predicted):
            # The next view, then as many more as the control loop's depth asks for; the
            # nearest view of the likeliest operation is also rendered, no more: rendering
            # ahead holds the CPU when the viewer moves on.
            target = view
            for depth in range(1, self.controller.parameters.depth + 1):
                target = next_viewport(target, next_op, step, last_op=op, strides=strides)
                if target is None or target.scale < 1:
                    break
                self._submit(Job(session, session.slide_id, next_op, region=target,
                                 generation=generation, render=depth == 1 and rank == 0))

    # -- planning --------------------------------------------------------------------------

    def _overview_jobs(self, session: Session, reader: SlideReader, reason: str) -> list[Job]:
        return [Job(session, reader.slide_id, reason, level=level,
                    coords=tuple(reader.level_tiles(level)))
                for level in reader.levels_of_at_most(self.settings.overview_tiles)]

    def _plan_overview(self, session: Session, reader: SlideReader) -> None:
        self._submit(Job(session, reader.slide_id, "tables"))
        for job in self._overview_jobs(session, reader, "overview"):
            self._submit(job)
        if self.case_rules.active:
            self._submit(Job(session, reader.slide_id, "rules"))

    # -- running ---------------------------------------------------------------------------

    def _submit(self, job: Job) -> None:
        with self._lock:
            if self._pending >= self.settings.max_queue:
                self._dropped(job, "queue")
                return
            self._pending += 1
            if self._pool is None:  # made on first use, after gevent has patched threading
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.settings.concurrency, thread_name_prefix="wsi-prefetch")
        self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        try:
            if self.controller.parameters.throttled:
                self._dropped(job, "throttled")
                return
            if job.urgent and self.demand.in_flight > self.settings.frame_demand:
                self._dropped(job, "busy")
                return
            if not job.urgent and not self._demand_pauses(job):
                return
            if job.generation is not None and job.generation != job.session.generation:
                self._cancelled(job)
                return
            if job.foresee is not None:
                time.sleep(FRAME_SETTLE)
                region = job.foresee()
                if region is None:
                    return
                job = dataclasses.replace(job, region=region, foresee=None)
            with background_reads():  # not a viewer's: the ledger does not count them as used
                self._do(job)
        except WSIError:
            self._dropped(job, "error")
        finally:
            with self._lock:
                self._pending -= 1

    def _dropped(self, job: Job, why: str) -> None:
        self.counters.inc("prefetch_dropped", why=why, policy=job.session.policy,
                          reason=job.predictor)

    def _cancelled(self, job: Job) -> None:
        self.counters.inc("prefetch_cancelled", policy=job.session.policy, reason=job.predictor)

    def _demand_pauses(self, job: Job) -> bool:
        """Waits until no demand request is in flight; False (the job dropped) if demand does
        not pause within `demand_wait`: a server that busy has no room for guesses."""
        if self.demand.wait_for_pause(self.settings.demand_wait):
            return True
        self._dropped(job, "busy")
        return False

    def _still_wanted(self, job: Job) -> bool:
        """Rendering ahead goes on after demand pauses, while the session has not moved on."""
        if not self._demand_pauses(job):
            return False
        if job.generation != job.session.generation:
            self._cancelled(job)
            return False
        return True

    def _do(self, job: Job) -> None:
        if job.reason == "rules":
            self._apply_rules(job)
            return
        reader = self.readers.open(job.slide_id)
        if job.reason == "metadata":
            return  # opening it parsed and cached the index
        if job.reason == "tables":
            self._warm(job, reader, reader.table_ranges())
            return
        if job.region is not None:
            tiles = reader.stored_tiles_for(job.region.view())
            if tiles is None:
                return
            level, coords = tiles
        else:
            level, coords = job.level, list(job.coords)
        if self._warm(job, reader, reader.tile_ranges(level, list(coords))) and job.render:
            self.ahead.render(job, reader, lambda: self._still_wanted(job))

    def _warm(self, job: Job, reader: SlideReader, ranges: list[tuple[int, int]]) -> bool:
        """Fetches the blocks of `ranges` not cached yet; True if they all are now. The read
        size rounds the fetch out to whole read units: their other blocks count against the
        budget and, like any read's, in the read-ahead ledger (`BlockReader`)."""
        plan = reader.fetch_plan(ranges)
        if not plan.asked:
            return True
        policy = job.session.policy
        if job.session.spent + plan.size > self.settings.session_budget:
            self._dropped(job, "budget")
            return False
        if not self.leases.take("prefetch-lease",
                                f"{plan.namespace}|{plan.runs[0][0]}-{plan.runs[-1][1]}", 10):
            self._dropped(job, "leased")
            return False
        if not self.limiter.take(len(plan.runs)):
            self._dropped(job, "rate")
            return False
        job.session.spent += plan.size
        reason = job.predictor
        # Blocks a viewer's request was already fetching are its own, not prefetched. The
        # ledger hears of the rest before they land: a viewer may read one as it lands.
        fetched, requests = reader.fetch(plan, lambda mine: self.ledger.add(
            plan.namespace, mine, {"policy": policy, "reason": reason}))
        self.counters.inc("prefetch_jobs", reason=reason, policy=policy)
        self.counters.inc("prefetch_bytes", sum(fetched.values()), policy=policy,
                          reason=reason)
        self.counters.inc("prefetch_store_requests", requests, policy=policy, reason=reason)
        return True

    # -- clinical context ------------------------------------------------------------------

    def _apply_rules(self, job: Job) -> None:
        for rule, target in self.case_rules.targets(job.slide_id):
            self.counters.inc("prefetch_rule_slides", rule=rule.name, policy=job.session.policy)
            self._warm_related(job.session, rule, target)

    def _warm_related(self, session: Session, rule: Rule, slide_id: str) -> None:
        try:
            reader = self.readers.open(slide_id)  # metadata: parsed and cached
        except WSIError:
            return
        if "thumbnail" in rule.what:
            view = reader.thumbnail_view(512)
            self._do(Job(session, slide_id, f"rule:{rule.name}", region=Viewport(
                view.l0_x, view.l0_y, view.l0_width, view.l0_height, view.scale)))
        if "overview" in rule.what:
            for job in self._overview_jobs(session, reader, f"rule:{rule.name}"):
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
                if self.leases.shared is not None:
                    time.sleep(0.01)
                self._settle()
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self._closed = True
        self.control.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
