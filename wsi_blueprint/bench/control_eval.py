"""Cache eviction, prefetch under load and store cost, measured where viewers share a server.

The benchmark suite replays one viewer at a time on fresh caches; the controls of issue #10
matter when many viewers and other traffic share the server. This run serves the generated case
from the simulated S3 (40 ms first byte, 100 MB/s) and measures three things:

1. Eviction, plain LRU against the segmented LRU (WSI_CACHE_POLICY). Viewers arrive one after
   another and read the case while a one-off scan (distinct full-resolution tiles in random
   order, as a job sampling training patches asks for them) runs between their views. The
   caches are small, in process and in memcached, so something must be evicted; prefetch is
   off, so the policy is the only difference. Views and scan take turns and /metrics is read
   between them, so the viewers' cache hits are told apart from the scan's (the scan's misses
   are the same under any policy; what matters is what the viewers keep). Reported: block and
   tile cache hit ratios, store requests and bytes, the viewers' tile latency.
2. Demand latency under load, prefetch off against on (in interleaved rounds): background
   viewers replay sessions back to back without pauses while a probe viewer reads one session
   with its reading pauses. The
   background reads the case in order, the probe from its last slide, so the probe opens a
   slide nobody else has read: cold, where prefetching could hide store waits, while the load
   takes the CPU and the store. Reported: the probe's tile latency, and that of every tile
   served meanwhile.
3. Cost per session: the store traffic of run 2 divided by the sessions played, priced with the
   accounting's CostModel (S3 Standard GET prices by default), beside the price the server
   itself put on its store traffic in /metrics, and prefetch's share of it.

    python -m wsi_blueprint.bench.control_eval [--quick] [--out DIR]
"""

import argparse
import dataclasses
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import traces as tr
from .live_server import LiveServer
from .replay import (SessionRun, Step, cache_ratios, metric_total, percentile,
                     replay_session, scrape_metrics, sessions_of)
from .report import DEFAULT_PRICES, merge_ratios, store_price
from .s3sim import SimulatedS3
from .services import Memcached
from .slidegen import FULL_CASE, QUICK_CASE, ensure_slides
from .suite import _link_slides

ONE_OFF = "one-off"  # the action of the scan's steps, told apart from the viewers' own
LOAD_RAMP = 2.0      # seconds the background viewers run before the probe starts
SEED = 11


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much one run does."""

    profile: tr.Profile      # how much one session reads
    viewers: int             # viewers of the eviction run
    stagger: int             # views between one viewer's arrival and the next one's
    one_off_per_round: int   # scan tiles after every round of views
    block_cache: str         # WSI_BLOCK_CACHE_BYTES of the eviction run (per worker)
    tile_cache: str          # WSI_TILE_CACHE_BYTES of the eviction run (per worker)
    memcached_mb: int        # memcached of the eviction run
    background: int          # concurrent background viewers of the load run
    probe_time_scale: float  # the probe's reading pauses, scaled
    load_rounds: int = 1     # load runs of each mode, interleaved: off, on, off, on...


FULL = Scale(tr.FULL, viewers=3, stagger=4, one_off_per_round=60, block_cache="16M",
             tile_cache="2M", memcached_mb=8, background=3, probe_time_scale=1.0,
             load_rounds=2)
QUICK = Scale(tr.QUICK, viewers=3, stagger=2, one_off_per_round=20, block_cache="1M",
              tile_cache="256K", memcached_mb=2, background=2, probe_time_scale=0.5)


def _log(message: str) -> None:
    print(f"[control {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def viewer_sessions(infos: list, names: list[str], profile: tr.Profile
                    ) -> dict[str, list[Step]]:
    """One generated session per name (the name seeds where it looks), each reading the case
    in order and naming itself to the server (?session=), so the prefetcher tells the viewers
    apart."""
    records = []
    for name in names:
        records += tr.generate_session(name, infos[:profile.slides or None], SEED, profile,
                                       query=f"session={name}")
    return sessions_of(records)


def one_off_tiles(infos: list, exclude: set, seed: int) -> list[str]:
    """Distinct full-resolution tiles of the case in random order, none of them in `exclude`:
    what a job sampling training patches asks for, once each. Tissue first, then glass (a small
    case runs out of tissue), the slides taken in turn."""
    rng = random.Random(seed)
    tissue, glass = [], []
    for info in infos:
        g = info.geometry
        span = g.tile_size * g.scale(g.max_level)
        marked = {(int(x // span), int(y // span)) for x, y in info.tissue}
        cols, rows = g.grid(g.max_level)
        every = [(c, r) for r in range(rows) for c in range(cols)]
        for found, wanted in ((tissue, [t for t in every if t in marked]),
                              (glass, [t for t in every if t not in marked])):
            urls = [tr.tile_url(info.slide_id, g.max_level, c, r) for c, r in wanted]
            urls = [url for url in urls if url not in exclude]
            rng.shuffle(urls)
            found.append(urls)

    def in_turn(lists):
        return [url for group in itertools.zip_longest(*lists) for url in group if url]
    return in_turn(tissue) + in_turn(glass)


def mix(viewers: dict[str, list[Step]], one_off: list[str], stagger: int, per_round: int
        ) -> list[tuple[list[Step], Step | None]]:
    """Rounds of (the viewers' next views, then a step of `per_round` tiles of the one-off
    scan), viewer k arriving `stagger` rounds after viewer k-1."""
    sessions = list(viewers.values())
    scan = iter(one_off)
    rounds = []
    for r in range(max(k * stagger + len(steps) for k, steps in enumerate(sessions))):
        views = [steps[r - k * stagger] for k, steps in enumerate(sessions)
                 if 0 <= r - k * stagger < len(steps)]
        tiles = [{"url": url, "kind": "tile"} for url in itertools.islice(scan, per_round)]
        rounds.append((views, Step(ONE_OFF, r, 0.0, ONE_OFF, "", tiles) if tiles else None))
    return rounds


def _tiles(runs: list[SessionRun]) -> list[dict]:
    """The tiles answered 200."""
    return [r for run in runs for r in run.requests
            if r["kind"] == "tile" and r["status"] == 200 and not r["error"]]


def _latency(tiles: list[dict]) -> dict:
    ms = [r["ms"] for r in tiles]
    return {"tiles": len(tiles), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "store_wait_share": sum(r["store"] for r in tiles) / len(tiles) if tiles else None}


def _delta(before: dict | None, after: dict | None, name: str, /, **labels: str) -> float:
    """A counter's growth between two scrapes, summed over the series matching `labels`."""
    return metric_total(after, name, **labels) - metric_total(before, name, **labels)


def _server_env(store: SimulatedS3, prices: dict, **settings: str) -> dict:
    return {**store.server_env(),
            "WSI_COST_PER_1000_REQUESTS": str(prices["cost_per_1000_requests"]),
            "WSI_COST_PER_GB": str(prices["cost_per_gb"]), **settings}


def eviction(policy: str, store: SimulatedS3, rounds: list, scale: Scale, prices: dict
             ) -> dict:
    """The rounds replayed once on a fresh server with small caches, views and scan one after
    the other, /metrics read between them to tell their cache hits apart."""
    memcached = Memcached(memory_mb=scale.memcached_mb).start()
    env = _server_env(store, prices, WSI_CACHE_POLICY=policy, WSI_PREFETCH="off",
                      WSI_MEMCACHED=memcached.address, WSI_BLOCK_CACHE_BYTES=scale.block_cache,
                      WSI_TILE_CACHE_BYTES=scale.tile_cache)
    runs: dict[str, list[SessionRun]] = {"viewers": [], "one_off": []}
    ratios: dict[str, list] = {"viewers": [], "one_off": []}
    try:
        with LiveServer(None, workers=2, env=env) as server:
            store.reset()
            for views, scan in rounds:
                for part, steps in (("viewers", views), ("one_off", [scan] if scan else [])):
                    if steps:
                        before = scrape_metrics(server.url)
                        runs[part].append(replay_session(server.url, steps, concurrency=6))
                        ratios[part].append(cache_ratios(before, scrape_metrics(server.url)))
            stats = store.stats()
    finally:
        memcached.stop()
    row = {"policy": policy, "store_requests": stats["requests"], "store_bytes": stats["bytes"],
           "errors": sum(run.errors for part in runs.values() for run in part),
           "seconds": sum(run.seconds for part in runs.values() for run in part)}
    for part in runs:
        merged = merge_ratios(ratios[part]) or {}
        row[part] = {**_latency(_tiles(runs[part])),
                     "caches": {name: merged.get(name) for name in ("blocks", "tiles")}}
    return row


def under_load(mode: str, store: SimulatedS3, infos: list, probe: list[Step], scale: Scale,
               prices: dict) -> dict:
    """The probe session replayed while `scale.background` viewers play new sessions (bg1,
    bg2, ...) back to back; they finish the session they are in when the probe ends."""
    memcached = Memcached(memory_mb=1024).start()
    env = _server_env(store, prices, WSI_PREFETCH=mode, WSI_MEMCACHED=memcached.address)
    numbers = itertools.count(1)
    lock = threading.Lock()
    probe_done = threading.Event()
    played: list[tuple[float, SessionRun]] = []  # (perf_counter at its start, run)

    def viewer(url: str) -> None:
        while not probe_done.is_set():
            with lock:
                name = f"bg{next(numbers)}"
            steps = viewer_sessions(infos, [name], scale.profile)[name]
            began = time.perf_counter()
            run = replay_session(url, steps, concurrency=6)
            with lock:
                played.append((began, run))

    try:
        with LiveServer(None, workers=2, env=env) as server:
            store.reset()
            before = scrape_metrics(server.url)
            with ThreadPoolExecutor(scale.background, thread_name_prefix="load") as pool:
                loads = [pool.submit(viewer, server.url) for _ in range(scale.background)]
                try:
                    time.sleep(LOAD_RAMP)
                    probe_began = time.perf_counter()
                    probe_run = replay_session(server.url, probe, concurrency=6,
                                               time_scale=scale.probe_time_scale)
                    probe_ended = time.perf_counter()
                finally:
                    probe_done.set()
                for load in loads:
                    load.result()
            after = scrape_metrics(server.url)
            stats = store.stats()
    finally:
        memcached.stop()

    window = (probe_began, probe_ended)
    during_probe = sum(1 for began, run in played for r in _tiles([run])
                       if window[0] <= began + r["end"] / 1000 <= window[1])
    runs = [run for _, run in played] + [probe_run]
    sessions = len(runs)
    store_figures = {"requests": stats["requests"], "bytes": stats["bytes"]}
    return {
        "mode": mode, "probe": {**_latency(_tiles([probe_run])), "errors": probe_run.errors,
                                "seconds": probe_run.seconds},
        "all": {**_latency(_tiles(runs)), "errors": sum(run.errors for run in runs)},
        "background_sessions": len(played),
        "background_tiles_per_second": during_probe / (window[1] - window[0]),
        "sessions": sessions, "store_requests": stats["requests"],
        "store_bytes": stats["bytes"],
        "per_session": {"requests": stats["requests"] / sessions,
                        "bytes": stats["bytes"] / sessions,
                        "dollars": store_price(store_figures, prices) / sessions},
        "server_dollars": {
            "all": _delta(before, after, "wsi_store_cost_dollars_total", purpose="all"),
            "prefetch": _delta(before, after, "wsi_store_cost_dollars_total",
                               purpose="prefetch")},
        "prefetch_bytes": _delta(before, after, "wsi_prefetch_bytes_total")}


def run(slides: list, scale: Scale, out: str, prices: dict = DEFAULT_PRICES,
        log=_log) -> dict:
    """Both measurements on `slides` (BenchSlide); writes control.json and control.md."""
    began = time.time()
    infos = [tr.slide_info_from_file(s.path, s.slide_id) for s in slides]
    viewers = viewer_sessions(infos, [f"v{k + 1}" for k in range(scale.viewers)],
                              scale.profile)
    asked = {r["url"].split("?", 1)[0] for steps in viewers.values() for step in steps
             for r in step.requests}
    rounds = mix(viewers, one_off_tiles(infos, asked, SEED), scale.stagger,
                 scale.one_off_per_round)
    probe = viewer_sessions(infos[::-1], ["probe"], scale.profile)["probe"]

    workdir = tempfile.mkdtemp(prefix="wsi-control-eval-")
    _link_slides(workdir, slides)
    store = SimulatedS3(workdir, latency_ms=40.0, bandwidth_mbps=100.0).start()
    results = {"prices": prices, "scale": dataclasses.asdict(scale),
               "slides": [s.slide_id for s in slides], "eviction": [], "load": []}
    try:
        for policy in ("lru", "slru"):
            log(f"eviction, {policy}: {len(rounds)} rounds of views and one-off tiles")
            results["eviction"].append(eviction(policy, store, rounds, scale, prices))
        # Interleaved rounds: on this kind of shared machine two runs of the same mode differ
        # by as much as prefetch could, so the spread of each mode is part of the answer.
        for round_ in range(1, scale.load_rounds + 1):
            for mode in ("off", "on"):
                log(f"load, prefetch {mode}, round {round_}: {scale.background} background "
                    "viewers and the probe")
                row = under_load(mode, store, infos, probe, scale, prices)
                results["load"].append({**row, "round": round_})
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = time.time() - began
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "control.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "control.md"), "w") as f:
        f.write(to_markdown(results))
    return results


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _ratio(cache: dict | None) -> str:
    """'93% (l1 70%, l2 23%) of 4,210': hits over lookups, each tier's share, the lookups."""
    if not cache or not cache["hits"] + cache["misses"]:
        return "n/a"
    lookups = cache["hits"] + cache["misses"]
    tiers = ", ".join(f"{tier} {cache['tiers'].get(tier, 0) / lookups:.0%}"
                      for tier in ("l1", "l2"))
    return f"{cache['hits'] / lookups:.0%} ({tiers}) of {lookups:,.0f}"


def _mode(row: dict, rounds: int) -> str:
    return f"{row['mode']}, round {row['round']}" if rounds > 1 else row["mode"]


def to_markdown(results: dict) -> str:
    scale, prices = results["scale"], results["prices"]
    rounds = scale.get("load_rounds", 1)
    first = results["eviction"][0] if results["eviction"] else None
    out = ["### Eviction: LRU against segmented LRU", "",
           f"{scale['viewers']} viewers arriving {scale['stagger']} views apart read the case "
           f"while a one-off scan asks for {scale['one_off_per_round']} distinct "
           "full-resolution tiles (tissue first) in random order after every round of views "
           f"({first['one_off']['tiles'] if first else 0:,} in all). Caches per worker (2 "
           f"workers): blocks {scale['block_cache']}, tiles {scale['tile_cache']}; memcached "
           f"{scale['memcached_mb']} MB; prefetch off. Cache hits (from /metrics, read between "
           "the views and the scan): hits over lookups, the share each tier answered (l1 in "
           "process, l2 memcached), lookups.", "",
           "| policy | viewers: block cache hits | viewers: tile cache hits | scan: block cache "
           "hits | store requests | store MB | viewer tile p50 ms | viewer tile p95 ms | viewer "
           "tiles waiting on the store | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["eviction"]:
        v, scan = row["viewers"], row["one_off"]
        out.append(f"| {row['policy']} | {_ratio(v['caches']['blocks'])} | "
                   f"{_ratio(v['caches']['tiles'])} | {_ratio(scan['caches']['blocks'])} | "
                   f"{row['store_requests']:,} | {row['store_bytes'] / 1e6:,.1f} | "
                   f"{_ms(v['p50'])} | {_ms(v['p95'])} | {_share(v['store_wait_share'])} | "
                   f"{row['errors']} |")
    out += ["", "### Demand latency under load, prefetch off and on", "",
            f"{scale['background']} background viewers replay new sessions back to back "
            "without pauses (6 parallel requests each), reading the case in order, while the "
            "probe viewer reads one session from the case's last slide with its reading pauses "
            f"(x{scale['probe_time_scale']:g}). All tiles: every tile the server answered during "
            "the run, the probe's included.", "",
            "| prefetch | probe tiles | probe p50 ms | probe p95 ms | probe tiles waiting on "
            "the store | all tiles p50 ms | all tiles p95 ms | background tiles/s during the "
            "probe | errors |", "|---|---|---|---|---|---|---|---|---|"]
    for row in results["load"]:
        p, a = row["probe"], row["all"]
        out.append(f"| {_mode(row, rounds)} | {p['tiles']:,} | {_ms(p['p50'])} | {_ms(p['p95'])} | "
                   f"{_share(p['store_wait_share'])} | {_ms(a['p50'])} | {_ms(a['p95'])} | "
                   f"{row['background_tiles_per_second']:,.0f} | {a['errors']} |")
    out += ["", "### Store cost per session", "",
            "The store traffic of the load run divided by the sessions played (background and "
            f"probe), priced with CostModel at ${prices['cost_per_1000_requests']:g} per 1,000 "
            f"GET requests and ${prices['cost_per_gb']:g} per GB (S3 Standard GET by default, "
            "set with --cost-per-1000-requests and --cost-per-gb). The server's figure is "
            "wsi_store_cost_dollars_total from its /metrics at the same prices.", "",
            "| prefetch | sessions | store requests/session | store MB/session | "
            "$ per 1,000 sessions | server's $ per 1,000 sessions | prefetch's share |",
            "|---|---|---|---|---|---|---|"]
    for row in results["load"]:
        per, server = row["per_session"], row["server_dollars"]
        share = server["prefetch"] / server["all"] if server["all"] else None
        out.append(f"| {_mode(row, rounds)} | {row['sessions']} | {per['requests']:,.0f} | "
                   f"{per['bytes'] / 1e6:,.1f} | ${per['dollars'] * 1000:.4f} | "
                   f"${server['all'] / row['sessions'] * 1000:.4f} | {_share(share)} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the small case, three short sessions (about a minute)")
    parser.add_argument("--out", default="bench-report",
                        help="folder for control.json and control.md")
    parser.add_argument("--cost-per-1000-requests", type=float,
                        default=DEFAULT_PRICES["cost_per_1000_requests"],
                        help="price of 1,000 store GET requests (default %(default)g, S3 "
                             "Standard)")
    parser.add_argument("--cost-per-gb", type=float, default=DEFAULT_PRICES["cost_per_gb"],
                        help="price per GB read from the store (default %(default)g)")
    args = parser.parse_args(argv)
    slides, _ = ensure_slides(QUICK_CASE if args.quick else FULL_CASE, None, None, _log)
    prices = {"cost_per_1000_requests": args.cost_per_1000_requests,
              "cost_per_gb": args.cost_per_gb}
    results = run(slides, QUICK if args.quick else FULL, args.out, prices)
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
