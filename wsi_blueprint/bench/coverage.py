"""Where prefetch leaves a viewer waiting, replayed without a clock: the same figures every run.

`style_eval` replays sessions against live servers and a 40 ms store, and its counts of tiles
that waited move by a fifth between two runs of the same code. This replay asks a narrower
question, and answers it the same way every run: which tiles did no prediction cover? It feeds
the prefetcher (`Prefetcher`, the engine itself) the tile requests of generated sessions in
trace order, on the benchmark's slides in a file store, and checks every tile's stored bytes:

- a round is as many requests as the viewer keeps in flight (`--round`, OpenSeadragon's six).
  A tile waited when its bytes were not cached as its round began: the round's requests leave
  together, before any answer is back;
- a round's requests reach the server in a shuffled order, each at one of `--workers` workers
  (as a viewer's connections reach a server's). Each worker has its own state and prefetcher
  and knows only the requests it saw; they share a memcached of the session's own (blocks and
  the prefetch ledger) and their leases;
- before the next round, every job the round started runs to its end (the store answers at
  once): what waits here is what nothing foresaw, not what was foreseen too late;
- a tile is also counted *unforeseen* when its bytes were not cached as its step (a screen, a
  zoom's frame) began. A live viewer sends a step's requests within a few milliseconds of each
  other when most are cached, and what the step's own first requests set fetching lands a
  store round trip later: it waits on those fetches. Tiles that waited here are the fewest a
  live run can leave waiting, unforeseen ones about the most;
- rendering ahead is left out: it spends CPU, not store requests.

Each session is replayed with prefetch off, then on. Per style (Mirador's IIIF tiles as the DZI
tiles they are), pooled over `--sessions` sessions of seeds from `--seed` on: tiles that waited
off and on, and on by move (`style_eval.waits_by_move`); the same of unforeseen tiles; store
requests (every range request, viewers' and prefetch's) and their bytes, prefetched bytes and
the share of them no viewer read, in all and by the predictor that asked for them (with its
store requests). A replay is the same to within a tile or two between runs (the prefetcher's
jobs run on threads).

`--trace FILE` replays recorded sessions instead (`viewer_eval --trace` records a browser's:
OpenSeadragon's own requests, each at the time it was sent, a round no sooner than its first).

    python -m wsi_blueprint.bench.coverage [--layout pyramid] [--styles explore,mixed]
                                           [--sessions 20] [--seed 11] [--quick]
                                           [--viewport 1600x900] [--trace FILE] [--out F]
"""

import argparse
import contextlib
import json
import math
import random
import time
import urllib.parse
from typing import Iterator

from ..prefetch.admission import Leases
from ..prefetch.engine import Prefetcher
from ..prefetch.settings import PrefetchSettings
from ..prefetch.viewport import Request
from ..settings import Settings
from ..state import WSIState
from . import traces as tr
from .prefetch_eval import CONNECTIONS, pool_reasons, profile_of
from .replay import Step, check_slides, kind_of, recorded_trace, sessions_of
from .services import Memcached
from .slidegen import LAYOUTS, case_of, ensure_slides
from .style_eval import MOVES, waits_by_move

# The replay's clock advances a round by a store round trip when a tile of it waited on the
# store, else by what a round of cached tiles takes: both well inside a burst, and a step of
# many rounds ends before the viewer's next move, as a live one does.
ROUND_SECONDS = 0.05
CACHED_ROUND_SECONDS = 0.005
# Longest wait for a round's fetches to land; then a moment for the last of them to reach
# memcached (stored without waiting for its answer), where the other worker looks.
SETTLE_TIMEOUT = 30.0
SHARED_LAG = 0.005
FIGURES = ("block_runs", "store_bytes", "prefetch_bytes", "prefetch_used_bytes", "memcached_errors")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ClockLeases(Leases):
    """Leases the workers of one replay share, timed by the replay's clock (memcached's
    expire by the wall clock, which a replay outruns)."""

    def __init__(self, clock: Clock):
        super().__init__(None)
        self.clock = clock
        self._until: dict[tuple[str, str], float] = {}

    def take(self, kind: str, name: str, seconds: int) -> bool:
        now = self.clock()
        if self._until.get((kind, name), now) > now:
            return False
        self._until[kind, name] = now + seconds
        return True


@contextlib.contextmanager
def held_jobs(prefetchers: list[Prefetcher]) -> Iterator[None]:
    """The jobs the prefetchers plan inside start once all of them are planned. A live worker
    has its share of a round within milliseconds, well before a next frame is foreseen from
    it (`FRAME_SETTLE`); here, jobs started on threads would make that a race with the
    replay's own thread."""
    held = []
    for prefetcher in prefetchers:
        prefetcher._submit = lambda job, submit=prefetcher._submit: held.append((submit, job))
    try:
        yield
    finally:
        for prefetcher in prefetchers:
            del prefetcher._submit
        for submit, job in held:
            submit(job)


def tile_of(record: dict, geometry: tr.Geometry) -> tuple[int, int, int]:
    """(DZI level, column, row) of a trace's tile request, named by DZI or IIIF."""
    level = int(record["level"])
    path = urllib.parse.urlsplit(record["url"]).path
    if "_files/" in path:
        col, row = path.rsplit("/", 1)[1].split(".")[0].split("_")
        return level, int(col), int(row)
    region = path.split("/")[-4]
    if region == "full":
        return level, 0, 0
    span = geometry.tile_size * geometry.scale(level)
    x, y = region.split(",")[:2]
    return level, int(x) // span, int(y) // span


class Replay:
    """One session on `workers` workers sharing a memcached, prefetch on or off."""

    def __init__(self, folder: str, geometries: dict, workers: int, prefetch: bool,
                 memcached: Memcached):
        self.geometries = geometries
        self.clock = Clock()
        settings = Settings.from_mapping({"WSI_STORE": f"file://{folder}", "WSI_PREFETCH": "off",
                                          "WSI_MEMCACHED": memcached.address})
        self.states = [WSIState.build(settings) for _ in range(workers)]
        leases = ClockLeases(self.clock)
        # The control loop reads the process's CPU and event loop lag, which a replay does
        # not share with a live worker: its parameters stay where they start.
        knobs = PrefetchSettings(control_period=math.inf)
        self.prefetchers = [
            Prefetcher(state.readers, state.counters, knobs, clock=self.clock, leases=leases,
                       watch=False) for state in self.states] if prefetch else []

    def run(self, steps: list[Step], round_size: int, order: random.Random) -> list[dict]:
        """The session's tile rows: step, trace time, action, whether the tile waited, and
        whether it was unforeseen (its bytes not cached as its step began)."""
        rows = []
        try:
            for step in steps:
                self.clock.now = max(self.clock.now, step.t)
                self._settle()
                tiles = [r for r in step.requests if kind_of(r) == "tile"]
                unforeseen = {id(r): self._read(r, 0)[3] for r in tiles}
                began = float(step.requests[0].get("t", 0))
                for start in range(0, len(tiles), round_size):
                    batch = tiles[start:start + round_size]
                    # A recorded viewer's requests keep their own times: a round leaves no
                    # sooner than its first request was sent (a generated step's share one).
                    self.clock.now = max(self.clock.now,
                                         step.t + float(batch[0].get("t", began)) - began)
                    order.shuffle(batch)
                    waited = self._round(batch, order)
                    rows += [{"step": step.index, "t": step.t, "action": step.action,
                              "kind": "tile", "status": 200, "store": w,
                              "unforeseen": unforeseen[id(r)]} for r, w in zip(batch, waited)]
                    self.clock.now += ROUND_SECONDS if any(waited) else CACHED_ROUND_SECONDS
        finally:
            for prefetcher in self.prefetchers:
                prefetcher.close()
        return rows

    def _read(self, record: dict, worker: int) -> tuple:
        """(reader, level-0 view, stored byte ranges, whether any of those bytes is uncached)
        of a tile request at a worker."""
        reader = self.states[worker].readers.open(record["slide"])
        geometry = self.geometries[record["slide"]]
        view = geometry.request(*tile_of(record, geometry), "jpeg", 75).view
        stored = reader.stored_tiles_for(view)
        ranges = reader.tile_ranges(*stored) if stored else []
        return reader, view, ranges, bool(reader.fetch_plan(ranges).asked)

    def _round(self, batch: list[dict], order: random.Random) -> list[bool]:
        """Serves a round's requests, each at a worker; whether each waited on the store."""
        reads = []
        for record in batch:
            worker = order.randrange(len(self.states))
            reads.append((worker, *self._read(record, worker)))
        if self.prefetchers:  # each request is seen as it comes in, then served
            with held_jobs(self.prefetchers):
                for record, (worker, reader, view, _, _) in zip(batch, reads):
                    self.prefetchers[worker].observe(record["session"], reader, Request(
                        self.clock.now, view.l0_x, view.l0_y, view.l0_width, view.l0_height,
                        view.scale))
        for _, reader, _, ranges, _ in reads:
            reader.slide.blocks.read_many(ranges)
        self._settle(end_bursts=False)
        return [waited for *_, waited in reads]

    def _settle(self, end_bursts: bool = True) -> None:
        """Every job started so far runs to its end, and every fetch (a read unit's rest lands
        after the read it served); between steps, quiet bursts end first."""
        for prefetcher in self.prefetchers:
            if end_bursts:
                prefetcher.end_quiet_bursts()
            prefetcher.drain()
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while any(state.library.caches.blocks.flights for state in self.states):
            if time.monotonic() > deadline:
                raise RuntimeError("fetches still under way after "
                                   f"{SETTLE_TIMEOUT:g} s: the replay is no longer exact")
            time.sleep(0.002)
        time.sleep(SHARED_LAG)

    def figures(self) -> dict[str, float]:
        return {name: sum(state.counters.get(name) for state in self.states)
                for name in FIGURES}

    def by_predictor(self) -> dict[str, dict[str, float]]:
        """Prefetched and used bytes, and store requests, by the predictor that asked."""
        keys = {"prefetch_bytes": "bytes", "prefetch_used_bytes": "used",
                "prefetch_store_requests": "requests"}
        found: dict[str, dict[str, float]] = {}
        for state in self.states:
            for name, labels, value in state.counters.items():
                if name in keys:
                    reason = found.setdefault(labels["reason"],
                                              {"bytes": 0.0, "used": 0.0, "requests": 0.0})
                    reason[keys[name]] += value
        return found


def benchmark_case(layout: str, small: bool, log=print) -> tuple[list, str, dict]:
    """The benchmark's slides in `layout` (generated once): their infos, the folder a file
    store serves them from, and their DZI geometries by slide id."""
    slides, _ = ensure_slides(case_of(layout, small), None, None, log)
    infos = [tr.slide_info_from_file(s.path, s.slide_id) for s in slides]
    folder = slides[0].path[:-len(slides[0].slide_id)]
    return infos, folder, {info.slide_id: info.geometry for info in infos}


def run(layout: str, styles: list[str], sessions: int, seed: int, quick: bool,
        workers: int = 2, round_size: int = CONNECTIONS, small: bool = False,
        viewport=tr.VIEWPORT, log=print, trace: list[dict] | None = None) -> dict:
    """Figures by style; with `trace` (records, as `viewer_eval --trace` writes them), of its
    sessions instead, as the style "trace"."""
    infos, folder, geometries = benchmark_case(layout, small, log)
    if trace is not None:
        check_slides(trace, geometries, layout)
        unlevelled = [n for n, r in enumerate(trace, 1)
                      if kind_of(r) == "tile" and not isinstance(r.get("level"), int)]
        if unlevelled:
            raise ValueError(f"trace record {unlevelled[0]} names a tile without its DZI level")
        styles = ["trace"]
    results = {}
    for style in styles:
        rows = {"off": [], "on": []}
        totals = {mode: dict.fromkeys(FIGURES, 0.0) for mode in rows}
        predictors = []  # each replay's bytes by predictor, as `pool_reasons` pools rows
        for n, steps in _sessions(style, infos, sessions, seed, quick, viewport, trace):
            for mode in rows:
                memcached = Memcached(memory_mb=512).start()
                try:
                    replay = Replay(folder, geometries, workers, mode == "on", memcached)
                    rows[mode].append(replay.run(steps, round_size, random.Random(seed + n)))
                    figures = replay.figures()
                    if figures["memcached_errors"]:
                        raise RuntimeError("memcached failed during a replay: the workers no "
                                           "longer shared their blocks, and its figures are "
                                           "not the engine's")
                    for name, value in figures.items():
                        totals[mode][name] += value
                    predictors.append({"by_reason": replay.by_predictor()})
                finally:
                    memcached.stop()
        results[style] = summary(rows, totals, pool_reasons(predictors), round_size)
        log(line(style, results[style]))
    return results


def _sessions(style: str, infos: list, sessions: int, seed: int, quick: bool, viewport,
              trace: list[dict] | None) -> Iterator[tuple[int, list[Step]]]:
    """(n, steps) of each session to replay: `sessions` generated in `style` from `seed` on,
    or every session of `trace`."""
    if trace is not None:
        yield from enumerate(sessions_of(trace).values())
        return
    profile = profile_of(style, quick)
    for n in range(sessions):
        for steps in sessions_of(tr.generate(infos, 1, seed + n, profile, viewport)).values():
            yield n, steps


def summary(rows: dict[str, list], totals: dict[str, dict], predictors: dict[str, dict],
            round_size: int) -> dict:
    def waited(mode: str, key: str = "store") -> int:
        return sum(row[key] for session in rows[mode] for row in session)

    prefetched, used = totals["on"]["prefetch_bytes"], totals["on"]["prefetch_used_bytes"]
    return {"sessions": len(rows["on"]),
            "tiles": sum(len(session) for session in rows["on"]),
            "waited": {"off": waited("off"), "on": waited("on")},
            "unforeseen": {mode: waited(mode, "unforeseen") for mode in rows},
            "store_requests": {mode: int(totals[mode]["block_runs"]) for mode in rows},
            "store_mb": {mode: round(totals[mode]["store_bytes"] / 1e6, 1) for mode in rows},
            "prefetched_mb": round(prefetched / 1e6, 1),
            "never_used": never_used(prefetched, used),
            "by_predictor": {reason: {"prefetched_mb": round(p["bytes"] / 1e6, 1),
                                      "never_used": never_used(p["bytes"], p["used"]),
                                      "store_requests": int(p["requests"])}
                             for reason, p in sorted(predictors.items()) if p["bytes"]},
            "waits_by_move": waits_by_move(rows["on"], round_size),
            "unforeseen_by_move": waits_by_move(rows["on"], round_size, "unforeseen")}


def never_used(prefetched: float, used: float) -> float | None:
    return round(1 - used / prefetched, 3) if prefetched else None


def line(style: str, figures: dict) -> str:
    def by_move(key: str) -> str:
        return ", ".join(f"{kind} {figures[key][kind]['waited']}"
                         for kind in MOVES if figures[key][kind]["waited"]) or "none"

    waited, store, late = figures["waited"], figures["store_requests"], figures["unforeseen"]
    unused = "" if figures["never_used"] is None else f", {figures['never_used']:.0%} never used"
    predictors = ", ".join(f"{reason} {p['prefetched_mb']} MB, {p['never_used']:.0%}, "
                           f"{p['store_requests']} requests"
                           for reason, p in figures["by_predictor"].items())
    return (f"{style}: of {figures['tiles']} tiles, {waited['off']} -> {waited['on']} waited "
            f"({waited['on'] / max(1, figures['tiles']):.1%} on), {late['off']} -> "
            f"{late['on']} unforeseen; store requests {store['off']} -> {store['on']}, "
            f"{figures['store_mb']['off']} -> {figures['store_mb']['on']} MB; "
            f"{figures['prefetched_mb']} MB prefetched{unused} ({predictors or 'none'}); "
            f"waited on by move: {by_move('waits_by_move')}; unforeseen by move: "
            f"{by_move('unforeseen_by_move')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=LAYOUTS, default="pyramid")
    parser.add_argument("--styles", default=",".join(tr.STYLES))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11, help="the first session's seed")
    parser.add_argument("--quick", action="store_true", help="shorter sessions of each style")
    parser.add_argument("--small-slides", action="store_true", help="the small case")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--round", type=int, default=CONNECTIONS, dest="round_size",
                        help="requests a viewer keeps in flight")
    parser.add_argument("--viewport", type=tr.screen_size, default=tr.VIEWPORT, metavar="WxH",
                        help="the screen the generated sessions are read on")
    parser.add_argument("--trace", metavar="FILE",
                        help="replay the sessions of this trace (JSON lines, as "
                             "`viewer_eval --trace` records a browser's) instead of styles")
    parser.add_argument("--out", help="also write the figures here, as JSON")
    args = parser.parse_args(argv)
    styles = [s for s in args.styles.split(",") if s]
    unknown = [s for s in styles if s not in tr.STYLES]
    if unknown:
        parser.error(f"unknown styles: {', '.join(unknown)}")
    if args.sessions < 1 or args.workers < 1 or args.round_size < 1:
        parser.error("--sessions, --workers and --round must be at least 1")
    trace = None
    if args.trace:
        try:
            trace = recorded_trace(args.trace)
        except ValueError as exc:
            parser.error(f"--trace {args.trace}: {exc}")
    try:
        results = run(args.layout, styles, args.sessions, args.seed, args.quick, args.workers,
                      args.round_size, args.small_slides, args.viewport, trace=trace)
    except ValueError as exc:
        parser.error(str(exc))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"layout": args.layout, "sessions": args.sessions, "seed": args.seed,
                       "quick": args.quick, "workers": args.workers, "round": args.round_size,
                       "viewport": list(args.viewport), "styles": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
