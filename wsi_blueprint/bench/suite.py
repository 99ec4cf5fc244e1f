"""`wsi-blueprint bench`: how fast the server is on generated or your own slides, beside peers.

One run, on loopback only, every loop bounded:

1. slides: a case of generated Aperio slides (cached under ~/.cache/wsi_blueprint/bench), or
   the files given with --slides;
2. a simulated S3 (s3sim.py) serving them with S3's first-byte latency and a bandwidth cap,
   counting requests and bytes;
3. viewing-session traces (traces.py), or a recorded JSONL trace given with --trace;
4. for each server - wsi_blueprint from the simulated S3 under gunicorn (gevent workers,
   memcached shared), OpenSlide's DeepZoomGenerator on the local file, tiffslide over HTTP
   with fsspec's default and tuned settings - each session replayed cold (fresh server and
   caches) then warm, with a viewer's six parallel requests;
5. throughput of cached and of derived tiles under concurrent load (wrk, or Python), and the
   hot path against its ceiling: cached native tiles beside bare Flask handing out bodies of
   the same sizes under the same gunicorn settings, in alternating pairs (hot_path.py), on
   one core and on two with --scaling;
6. the report: markdown, PNG plots, JSON (report.py).

`--server URL` replays against a server already running instead (store figures only where
that server reads this run's simulated S3, so none).
"""

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time

PEERS = ("openslide", "tiffslide", "tiffslide-tuned")
QUICK_PEERS = ("openslide", "tiffslide-tuned")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wsi-blueprint bench` (kept importable without heavy imports)."""
    from .report import DEFAULT_PRICES

    parser.add_argument("--quick", action="store_true",
                        help="a smoke run under a minute: small slides, one short session, "
                             "one-second load runs")
    parser.add_argument("--out", default="bench-report",
                        help="folder for report.md, results.json, plots and the trace "
                             "(default ./bench-report)")
    parser.add_argument("--slides", nargs="+", metavar="FILE",
                        help="your own slide files instead of the generated case (served "
                             "through the simulated S3 from where they are; never copied)")
    parser.add_argument("--trace", metavar="JSONL",
                        help="replay this trace (generated or recorded) instead of "
                             "generating sessions; its slide ids must be those served")
    parser.add_argument("--sessions", type=int, help="sessions to generate (default 2, "
                                                     "quick 1)")
    parser.add_argument("--seed", type=int, default=1, help="trace generator seed")
    parser.add_argument("--peers",
                        help="comma-separated peers to run beside wsi_blueprint: "
                             f"{', '.join(PEERS)}, or 'none' (default all; quick: "
                             f"{', '.join(QUICK_PEERS)})")
    parser.add_argument("--latency-ms", type=float, default=40.0,
                        help="first-byte latency of the simulated S3 (default 40)")
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0,
                        help="bandwidth of one S3 response in MB/s, 0 for no cap "
                             "(default 100)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server "
                                                               "(default 2)")
    parser.add_argument("--no-memcached", action="store_true",
                        help="run wsi_blueprint with in-process caches only")
    parser.add_argument("--concurrency", type=int, default=6,
                        help="parallel requests of the replayed viewer (default 6)")
    parser.add_argument("--time-scale", type=float, default=0.0,
                        help="1 keeps the sessions' reading pauses, 0 drops them (default)")
    parser.add_argument("--load-seconds", type=float,
                        help="length of each throughput run (default 4, quick 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="connections of the throughput runs (default 16)")
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--scaling", action="store_true",
                        help="run the hot path (cached tiles against the ceiling) with the "
                             "servers on one core and on two (taskset -c 0, -c 0,1) instead "
                             "of unpinned")
    parser.add_argument("--max-session-seconds", type=float,
                        help="cut a replayed pass of a session after this long; a server "
                             "cut short plays no further session (default 30, quick 20)")
    parser.add_argument("--no-dicom", action="store_true",
                        help="skip the DICOM case (the first generated slide as a DICOM "
                             "series beside its SVS, levels of many frames; dicom_case.py)")
    parser.add_argument("--cost-per-1000-requests", type=float,
                        default=DEFAULT_PRICES["cost_per_1000_requests"],
                        help="price of 1,000 store GET requests in the report and the "
                             "server's /metrics (default %(default)g, S3 Standard)")
    parser.add_argument("--cost-per-gb", type=float, default=DEFAULT_PRICES["cost_per_gb"],
                        help="price per GB read from the store (default %(default)g: "
                             "no charge in the bucket's region)")
    parser.add_argument("--cache-dir", help="where generated slides are kept (default "
                                            "~/.cache/wsi_blueprint/bench)")
    parser.add_argument("--testdata", help="folder holding CMU-1-Small-Region.svs, the source "
                                           "of the generated slides' pixels")
    parser.add_argument("--server", metavar="URL",
                        help="replay against this running server instead of starting any "
                             "(needs --trace, or --slide ids to generate one)")
    parser.add_argument("--slide", action="append", default=[], metavar="ID",
                        help="with --server: a slide id it serves (repeat)")


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _versions() -> dict:
    from importlib import metadata

    found = {}
    for name in ("wsi_blueprint", "openslide-python", "openslide-bin", "tiffslide", "fsspec",
                 "tifffile", "gunicorn", "gevent"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _derived_paths(infos: list, seed: int, limit: int) -> list[str]:
    """Distinct derived tiles of the case, the slides taken in turn: tissue tiles first, then
    the others (so whichever slides the last session left open, the mix is the same)."""
    import itertools

    from .traces import tile_url

    tissue, other = [], []
    for info in infos:
        t, o = info.derived_tiles(seed=seed)
        tissue.append([tile_url(info.slide_id, *k) for k in t])
        other.append([tile_url(info.slide_id, *k) for k in o])

    def interleave(lists):
        return [p for group in itertools.zip_longest(*lists) for p in group if p]
    return (interleave(tissue) + interleave(other))[:limit]


def _link_slides(root: str, slides: list) -> str:
    """A bucket folder of symbolic links to the slides (nothing copied)."""
    bucket = os.path.join(root, "slides")
    for slide in slides:
        link = os.path.join(bucket, slide.slide_id)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.realpath(slide.path), link)
    return bucket


def _user_slides(paths: list[str]) -> list:
    from .slidegen import BenchSlide

    slides, used = [], set()
    for i, path in enumerate(paths):
        if not os.path.isfile(path):
            raise SystemExit(f"no such slide file: {path}")
        name = os.path.basename(path)
        slide_id = name if name not in used else f"{i}-{name}"
        used.add(slide_id)
        slides.append(BenchSlide(slide_id, os.path.abspath(path), 0, 0, os.path.getsize(path)))
    return slides


class _Target:
    """One server of the comparison, started fresh for every cold pass; `make()` gives it
    (not started)."""

    def __init__(self, name: str, description: str, uses_store: bool, make, memcached=None):
        self.name = name
        self.description = description
        self.uses_store = uses_store
        self.make = make
        self._memcached = memcached
        self.server = None

    def start(self) -> str:
        if self._memcached is not None:  # an empty shared cache for every cold pass
            self._memcached.stop()
            self._memcached.start()
        self.server = self.make().start()
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class _External:
    """A server someone else runs: started and stopped by them."""

    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/"

    def start(self) -> "_External":
        return self

    def stop(self) -> None:
        pass


def _phase(run, store_stats: dict | None, ratios: dict | None) -> dict:
    return {"latencies": run.tile_latencies(), "ttft": [t["ms"] for t in run.ttft],
            "views": [s["ms"] for s in run.steps], "errors": run.errors,
            "requests": len(run.requests), "seconds": run.seconds, "truncated": run.truncated,
            "store": {k: store_stats[k] for k in ("requests", "bytes", "kinds")}
            if store_stats else None,
            "cache_ratios": ratios,
            "failures": [{"url": r["url"], "status": r["status"], "error": r["error"]}
                         for r in run.requests if r["error"] or r["status"] >= 400][:5]}


def _measure_target(target: _Target, sessions: dict, options, store, derived_paths: list,
                    cached_limit: int) -> dict:
    from .load import run_load
    from .replay import cache_ratios, replay_session, scrape_metrics

    result = {"description": target.description, "uses_store": target.uses_store,
              "sessions": [], "throughput": {}}
    names = list(sessions)
    metrics_seen = False
    for i, name in enumerate(names):
        steps = sessions[name]
        last = i == len(names) - 1
        if result["sessions"] and result["sessions"][-1]["cold"]["truncated"]:
            # a server that could not finish a session in the time would not finish the next
            result["skipped_sessions"] = names[i:]
            _log(f"{target.name}: sessions {', '.join(names[i:])} skipped (the last one was "
                 f"cut short after {options.max_session_seconds:g} s)")
            break
        url = target.start()
        try:
            phases, runs = {}, {}
            for phase in ("cold", "warm"):
                before = scrape_metrics(url)
                if store:
                    store.reset()
                run = replay_session(url, steps, concurrency=options.concurrency,
                                     time_scale=options.time_scale,
                                     max_seconds=options.max_session_seconds)
                stats = store.stats() if store else None
                after = scrape_metrics(url)
                metrics_seen = metrics_seen or after is not None
                runs[phase] = run
                phases[phase] = _phase(run, stats, cache_ratios(before, after))
                p = phases[phase]
                _log(f"{target.name} {name} {phase}: {len(p['latencies'])} tiles in "
                     f"{p['seconds']:.1f} s, errors {p['errors']}"
                     + (f", store {stats['requests']} requests {stats['bytes'] / 1e6:.1f} MB"
                        if stats and target.uses_store else ""))
            result["sessions"].append({"session": name, **phases})
            cut_short = phases["cold"]["truncated"]
            if (last or cut_short) and options.load_seconds > 0:
                # cached: tiles this server has served twice now; derived: tiles no pass asked
                cached = [r["url"] for r in runs["warm"].requests
                          if r["kind"] == "tile" and r["status"] == 200][:cached_limit]
                seen = {r["url"] for step in steps for r in step.requests}
                derived = [p for p in derived_paths if p not in seen]
                for kind, paths, unique in (("cached", cached, False),
                                            ("derived", derived, True)):
                    if not paths:
                        continue
                    if store:
                        store.reset()
                    load = run_load(url, paths, seconds=options.load_seconds,
                                    connections=options.connections, unique=unique,
                                    tool=options.load_tool)
                    load["store"] = store.stats() if store else None
                    result["throughput"][kind] = load
                    _log(f"{target.name} throughput {kind}: {load['rps']:.0f} requests/s "
                         f"({load['requests']} requests, {load['errors']} errors, "
                         f"{load['tool']})")
        finally:
            target.stop()
    result["metrics"] = metrics_seen
    return result


def run(options) -> dict:
    """The whole benchmark; returns the results (see report.py for their shape)."""
    from . import traces as tr
    from .replay import sessions_of

    began = time.time()
    quick = options.quick
    options.sessions = options.sessions or (1 if quick else 2)
    options.load_seconds = options.load_seconds if options.load_seconds is not None \
        else (1.0 if quick else 4.0)
    options.max_session_seconds = options.max_session_seconds or (20.0 if quick else 30.0)
    if options.peers is None:
        options.peers = ",".join(QUICK_PEERS if quick else PEERS)
    peers = [] if options.peers.strip() in ("", "none") else \
        [p.strip() for p in options.peers.split(",") if p.strip()]
    for peer in peers:
        if peer not in PEERS:
            raise SystemExit(f"unknown peer {peer!r}: choose from {', '.join(PEERS)}")
    os.makedirs(options.out, exist_ok=True)
    notes = []
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "command": "wsi-blueprint bench " + " ".join(
                   shlex.quote(a) for a in getattr(options, "argv", []) or []),
               "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(), "versions": _versions()},
               "targets": {}, "notes": notes}
    if options.server:
        return _run_against(options, results, began)

    from .services import Memcached
    from .s3sim import SimulatedS3
    from .slidegen import FULL_CASE, QUICK_CASE, ensure_slides

    if options.slides:
        slides = _user_slides(options.slides)
        results["pixels"] = "your slides"
    else:
        slides, results["pixels"] = ensure_slides(QUICK_CASE if quick else FULL_CASE,
                                                  options.cache_dir, options.testdata, _log)
    _log("reading slide geometry and tissue")
    infos = [tr.slide_info_from_file(s.path, s.slide_id) for s in slides]
    results["slides"] = [{"slide_id": s.slide_id, "width": i.geometry.width,
                          "height": i.geometry.height, "size": s.size,
                          "native": list(i.native), "tile_size": i.geometry.tile_size}
                         for s, i in zip(slides, infos)]

    trace_path = os.path.join(options.out, "trace.jsonl")
    if options.trace:
        records = tr.read_trace(options.trace)
        if os.path.abspath(options.trace) != os.path.abspath(trace_path):
            tr.write_trace(trace_path, records)
    else:
        records = tr.generate(infos, options.sessions, options.seed,
                              tr.QUICK if quick else tr.FULL)
        tr.write_trace(trace_path, records)
    sessions = sessions_of(records)
    results["trace"] = {"path": trace_path, "sessions": len(sessions),
                        "requests": len(records)}
    _log(f"trace: {len(sessions)} session(s), {len(records)} requests")

    derived_paths = _derived_paths(infos, options.seed, limit=20000)
    _log("CPU per derived tile, in process, beside the codecs' floor")
    from .derived_cpu import for_suite
    results["derived_cpu"] = for_suite(slides, infos, quick)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    workdir = tempfile.mkdtemp(prefix="wsi-bench-")
    bucket = _link_slides(workdir, slides)
    store = SimulatedS3(workdir, latency_ms=options.latency_ms,
                        bandwidth_mbps=options.bandwidth_mbps).start()
    memcached = None
    if not options.no_memcached:
        try:
            # sized like a deployment's (a session reads some 100 MB of blocks and tiles), so
            # the figures show the server, not evictions of a toy memcached
            memcached = Memcached(memory_mb=1024).start()
        except RuntimeError as exc:
            notes.append(f"memcached not used: {exc}")
    results["config"] = {
        "quick": quick, "sessions": len(sessions), "store": True,
        "concurrency": options.concurrency,
        "latency_ms": options.latency_ms, "bandwidth_mbps": options.bandwidth_mbps,
        "workers": options.workers, "memcached": memcached is not None,
        "load_seconds": options.load_seconds, "connections": options.connections,
        "time_scale": options.time_scale, "peers": peers,
        "max_session_seconds": options.max_session_seconds,
        "prices": {"cost_per_1000_requests": options.cost_per_1000_requests,
                   "cost_per_gb": options.cost_per_gb}}
    try:
        targets = _targets(options, peers, store, bucket, memcached, notes)
        for target in targets:
            if isinstance(target, tuple):
                name, reason = target
                results["targets"][name] = {"skipped": reason, "description": reason}
                _log(f"{name} skipped: {reason}")
                continue
            _log(f"{target.name}: {target.description}")
            try:
                results["targets"][target.name] = _measure_target(
                    target, sessions, options, store if target.uses_store else None,
                    derived_paths, 2000)
            except Exception as exc:  # one server failing still leaves a report
                reason = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
                results["targets"][target.name] = {"skipped": reason, "description": reason}
                _log(f"{target.name} {reason}")
        if options.load_seconds > 0 and "throughput" in results["targets"]["wsi_blueprint"]:
            try:
                results["hot_path"] = _measure_hot_path(options, infos, targets[0].make)
            except Exception as exc:  # the rest of the report still stands
                notes.append(f"hot path failed: {type(exc).__name__}: {str(exc)[:300]}")
                _log(notes[-1])
    finally:
        store.stop()
        if memcached is not None:
            memcached.stop()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    if not options.slides and not options.no_dicom:
        from .dicom_case import for_bench
        results["dicom"] = for_bench(slides[0].path, options, _log)
    ours = results["targets"].get("wsi_blueprint", {})
    if ours.get("sessions") and not ours.get("metrics"):
        notes.append("cache hit ratios per tier: the server exposes no /metrics yet, so only "
                     "store-side figures (requests and bytes the simulated S3 served) are "
                     "reported")
    if not options.time_scale:
        notes.append("sessions replayed without their reading pauses (--time-scale 0): "
                     "each view starts when the previous one has loaded, so a prefetcher has "
                     "no idle time to work in")
    notes.append("OpenSlide reads the local file (no store latency: the classic deployment "
                 "beside the disk); its 'warm' pass has only OpenSlide's own tile cache and "
                 "the OS page cache")
    results["seconds"] = time.time() - began
    return results


def _measure_hot_path(options, infos: list, make_server) -> list[dict]:
    from . import hot_path

    cpu_sets = ["0", "0,1"] if options.scaling else [None]
    _log(f"hot path: {hot_path.TILES} cached native tiles, as DZI and as IIIF tiles, against "
         f"bare Flask, {hot_path.CONNECTIONS} connections")
    return hot_path.scaling(make_server, infos, cpu_sets, hot_path.PROTOCOLS, hot_path.TILES,
                            options.seed, pairs=1 if options.quick else 3,
                            seconds=options.load_seconds, connections=hot_path.CONNECTIONS,
                            workers=options.workers, tool=options.load_tool, log=_log)


def _targets(options, peers, store, bucket, memcached, notes) -> list:
    from .live_server import LiveServer
    from .peers import TUNED_FSSPEC, available, peer_server

    env = {**store.server_env(),
           "WSI_COST_PER_1000_REQUESTS": str(options.cost_per_1000_requests),
           "WSI_COST_PER_GB": str(options.cost_per_gb)}
    if memcached is not None:
        env["WSI_MEMCACHED"] = memcached.address
    targets: list = [_Target(
        "wsi_blueprint", f"this package under gunicorn ({options.workers} gevent workers"
        + (", memcached" if memcached else "") + ") reading the simulated S3 with ranged GETs",
        True, lambda cpus=None: LiveServer(None, workers=options.workers, env=env, cpus=cpus),
        memcached)]
    http_base = f"{store.endpoint}/slides"
    for peer in peers:
        kind = "openslide" if peer == "openslide" else "tiffslide"
        why = available(kind)
        if why:
            targets.append((peer, why))
            continue
        if peer == "openslide":
            targets.append(_Target(
                peer, "OpenSlide DeepZoomGenerator in a minimal Flask app on the local file "
                "(gunicorn, gthread workers)", False,
                lambda: peer_server("openslide", bucket, workers=options.workers)))
        elif peer == "tiffslide":
            targets.append(_Target(
                peer, "tiffslide over HTTP from the simulated S3 through fsspec, default "
                "settings (5 MiB blocks, read-ahead cache), DeepZoomGenerator", True,
                lambda: peer_server("tiffslide", http_base, workers=options.workers)))
        else:
            targets.append(_Target(
                peer, "tiffslide as above, tuned: fsspec 256 KiB blocks in a block cache "
                "(512 blocks per open slide)", True,
                lambda: peer_server("tiffslide", http_base, workers=options.workers,
                                    storage_options=TUNED_FSSPEC)))
    return targets


def _run_against(options, results, began) -> dict:
    """Replay against a server someone else started: latency figures only."""
    from . import traces as tr
    from .replay import sessions_of

    if options.trace:
        records = tr.read_trace(options.trace)
        infos = []
    else:
        if not options.slide:
            raise SystemExit("--server needs --trace, or --slide ids to generate sessions")
        infos = [tr.slide_info_from_server(options.server, s) for s in options.slide]
        records = tr.generate(infos, options.sessions, options.seed,
                              tr.QUICK if options.quick else tr.FULL)
    trace_path = os.path.join(options.out, "trace.jsonl")
    tr.write_trace(trace_path, records)
    sessions = sessions_of(records)
    results["slides"] = [{"slide_id": i.slide_id, "width": i.geometry.width,
                          "height": i.geometry.height, "size": 0, "native": list(i.native),
                          "tile_size": i.geometry.tile_size} for i in infos]
    results["pixels"] = "the server's own slides"
    results["trace"] = {"path": trace_path, "sessions": len(sessions), "requests": len(records)}
    results["config"] = {"quick": options.quick, "sessions": len(sessions), "store": False,
                         "concurrency": options.concurrency, "latency_ms": 0,
                         "bandwidth_mbps": 0, "workers": 0, "memcached": False,
                         "load_seconds": 0, "connections": options.connections,
                         "time_scale": options.time_scale, "peers": []}
    options.load_seconds = 0  # no load against a server that may not be ours to load

    target = _Target("server", f"the running server at {options.server}", False,
                     lambda: _External(options.server))
    results["targets"]["server"] = _measure_target(target, sessions, options, None, [], 0)
    results["notes"].append("replayed against a running server: its caches were as they were "
                            "(the 'cold' pass is the first pass), no store figures, no load")
    results["seconds"] = time.time() - began
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wsi-blueprint bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run_from_args(args)


def _num(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def run_from_args(args) -> int:
    from .report import headline, write_report

    if not hasattr(args, "argv"):
        args.argv = sys.argv[2:]
    results = run(args)
    paths = write_report(results, args.out)
    for row in headline(results):
        if row.get("skipped"):
            print(f"{row['server']}: skipped ({row['skipped']})")
            continue
        f = _num
        megabytes = None if row["store_bytes_cold"] is None else row["store_bytes_cold"] / 1e6
        dollars = None if row["store_dollars_cold"] is None else row["store_dollars_cold"] * 1000
        print(f"{row['server']}: tile ms cold p50/p95/p99 {f(row['cold_p50'])}/"
              f"{f(row['cold_p95'])}/{f(row['cold_p99'])}, warm {f(row['warm_p50'])}/"
              f"{f(row['warm_p95'])}/{f(row['warm_p99'])}; TTFT cold {f(row['ttft_cold'])} ms; "
              f"store/session {f(row['store_requests_cold'], 0)} requests "
              f"{f(megabytes, 2)} MB ${f(dollars, 3)} per 1,000 sessions; "
              f"cached {f(row['rps_cached'], 0)}/s, derived {f(row['rps_derived'], 0)}/s")
    from .derived_cpu import summary
    if summary(results.get("derived_cpu")):
        print(summary(results["derived_cpu"]))
    for section in results.get("hot_path") or []:
        print(f"hot path, {section['protocol']} on CPUs {section['cpus'] or 'all'}: cached tiles "
              f"{_num(section['cached_rps'], 0)}/s p99 {_num(section['cached_p99_ms'])} ms, "
              f"ceiling {_num(section['ceiling_rps'], 0)}/s: ratio {_num(section['ratio'], 2)}")
    print(f"report: {os.path.abspath(paths['markdown'])}")
    errors = sum(r.get("errors", 0) for r in headline(results))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
