"""The hot path against its ceiling: cached native tiles beside bare Flask, on one and two cores.

Tiles are asked for as OpenSeadragon names them (DZI) and as Mirador does (IIIF Image API 3,
the tiles info.json advertises): the same tiles, each protocol's own path through the server.

What the server adds to a cached tile (routing, caches, headers, metrics, prefetch hooks) is
measured against what Python, Flask and gunicorn cost anyway: `ceiling_app.py`, a minimal
Flask app handing out bodies of the same sizes from memory under the same gunicorn settings
(worker count, conf, hooks), loaded by the same tool over as many connections and URLs.

Both servers run side by side and are loaded in alternation (ours, ceiling, ours, ...), so
the machine's noise falls on both; each pair gives a ratio and the report takes medians.
With `cores`, each set of CPUs (`taskset -c`) gets its own pairs: what a second core buys.
The load generator is not pinned, as in the rest of the benchmark.

    python -m wsi_blueprint.bench.hot_path [--pairs 3] [--cores 0 0,1] [--protocols dzi iiif]
                                           [--access-control] [--out results.json]
    python -m wsi_blueprint.bench.hot_path --flame-graph hot-path.svg    # py-spy, SVG
"""

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time

from .ceiling_app import SIZES_ENV, tile_paths
from .live_server import LiveServer, cpu_list
from .load import run_load
from .replay import metric_total, scrape_metrics

TILES = 400        # distinct cached tiles, more than a screen and fewer than the tile cache
CONNECTIONS = 32   # a few viewers' worth of keep-alive connections
PROTOCOLS = ("dzi", "iiif")
CEILING_APP = "wsi_blueprint.bench.ceiling_app:create_app()"


def native_tile_paths(infos: list, count: int = TILES, seed: int = 1,
                      protocol: str = "dzi") -> list[str]:
    """`count` distinct tiles of levels that are stored levels (passed through, no
    resampling), tissue first, the slides taken in turn; as DZI tiles or as the IIIF tiles
    info.json advertises (`protocol`)."""
    from .traces import tile_url_as

    per_slide = []
    for info in infos:
        g = info.geometry
        tissue, other = [], []
        for level in range(g.max_level + 1):
            if g.scale(level) not in info.native:
                continue
            span = g.tile_size * g.scale(level)
            marked = {(int(x // span), int(y // span)) for x, y in info.tissue}
            cols, rows = g.grid(level)
            for r in range(rows):
                for c in range(cols):
                    (tissue if (c, r) in marked else other).append(
                        tile_url_as(protocol, info, level, c, r))
        rng = random.Random(seed)
        rng.shuffle(tissue)
        rng.shuffle(other)
        per_slide.append(tissue + other)
    paths, i = [], 0
    while len(paths) < count and any(i < len(p) for p in per_slide):
        paths += [p[i] for p in per_slide if i < len(p)]
        i += 1
    return paths[:count]


def body_sizes(base_url: str, paths: list[str]) -> list[int]:
    """The body size of each path, read from the server (its tile cache, once warm)."""
    import urllib.request

    sizes = []
    for path in paths:
        with urllib.request.urlopen(base_url + path.lstrip("/"), timeout=30) as response:
            sizes.append(len(response.read()))
    return sizes


def _tile_lookups(url: str) -> tuple[float, float] | None:
    """(hits, misses) of the server's tile cache so far, from its /metrics."""
    samples = scrape_metrics(url)
    if samples is None:
        return None
    return (metric_total(samples, "wsi_cache_hits_total", cache="tiles"),
            metric_total(samples, "wsi_cache_misses_total", cache="tiles"))


def _load(server, paths: list[str], seconds: float, connections: int, tool: str) -> dict:
    """A load run, with the server's CPU time per request (its workers', in ms)."""
    began = server.cpu_seconds()
    result = run_load(server.url, paths, seconds=seconds, connections=connections, tool=tool)
    used = server.cpu_seconds() - began
    result["cpu_ms"] = used * 1000 / result["requests"] if result["requests"] else None
    return result


def measure(make_server, paths: list[str], *, pairs: int = 3, seconds: float = 4.0,
            connections: int = CONNECTIONS, workers: int = 2, tool: str = "auto",
            cpus: str | None = None, protocol: str = "dzi", log=print) -> dict:
    """Cached tiles of `make_server(cpus)` (a LiveServer not started) against the ceiling, in
    `pairs` alternating runs. The tiles are warmed first (each worker's in-process cache
    filled by a load run) and the tile cache's hits and misses during the runs are reported:
    no miss means every request was a cache hit."""
    ours = make_server(cpus).start()
    folder = tempfile.mkdtemp(prefix="wsi-ceiling-")
    try:
        for _ in range(2):  # every tile into the shared tier, then into each worker
            _load(ours, paths, max(1.0, seconds / 2), connections, tool)
        sizes = body_sizes(ours.url, paths)
        listing = os.path.join(folder, "sizes.json")
        with open(listing, "w", encoding="utf-8") as f:
            json.dump(sizes, f)
        ceiling = LiveServer(None, workers=workers, env={SIZES_ENV: listing}, app=CEILING_APP,
                             cpus=cpus).start()
        try:
            ceiling_paths = tile_paths(len(paths), len(sizes))
            runs = []
            lookups_before = _tile_lookups(ours.url)
            for i in range(pairs):
                cached = _load(ours, paths, seconds, connections, tool)
                bare = _load(ceiling, ceiling_paths, seconds, connections, tool)
                ratio = cached["rps"] / bare["rps"] if bare["rps"] else None
                cpu_ratio = (bare["cpu_ms"] / cached["cpu_ms"]
                             if bare["cpu_ms"] and cached["cpu_ms"] else None)
                runs.append({"cached": cached, "ceiling": bare, "ratio": ratio,
                             "cpu_ratio": cpu_ratio})
                log(f"hot path, {protocol}{' on CPUs ' + cpus if cpus else ''}, pair {i + 1}: "
                    f"cached {cached['rps']:.0f}/s p99 {cached['p99_ms']:.1f} ms "
                    f"{cached['cpu_ms'] or 0:.3f} CPU ms, ceiling {bare['rps']:.0f}/s p99 "
                    f"{bare['p99_ms']:.1f} ms {bare['cpu_ms'] or 0:.3f} CPU ms, ratio "
                    f"{ratio:.2f}")
            lookups_after = _tile_lookups(ours.url)
        finally:
            ceiling.stop()
    finally:
        ours.stop()
        import shutil
        shutil.rmtree(folder, ignore_errors=True)

    def median(kind: str, key: str) -> float | None:
        values = [r[kind][key] for r in runs if r[kind][key] is not None]
        return statistics.median(values) if values else None

    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    cpu_ratios = [r["cpu_ratio"] for r in runs if r["cpu_ratio"] is not None]
    return {"protocol": protocol, "cpus": cpus, "pairs": runs, "tiles": len(paths),
            "connections": connections, "seconds": seconds,
            "tool": runs[0]["cached"]["tool"] if runs else tool,
            "body_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
            "cached_rps": median("cached", "rps"), "cached_p99_ms": median("cached", "p99_ms"),
            "ceiling_rps": median("ceiling", "rps"),
            "ceiling_p99_ms": median("ceiling", "p99_ms"),
            "ratio": statistics.median(ratios) if ratios else None,
            "cached_cpu_ms": median("cached", "cpu_ms"),
            "ceiling_cpu_ms": median("ceiling", "cpu_ms"),
            "cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
            "errors": sum(r["cached"]["errors"] + r["ceiling"]["errors"] for r in runs),
            "tile_hits": None if lookups_before is None or lookups_after is None
            else lookups_after[0] - lookups_before[0],
            "tile_misses": None if lookups_before is None or lookups_after is None
            else lookups_after[1] - lookups_before[1]}


def with_token(paths: list[str], token: str | None) -> list[str]:
    """`paths` with `token` in each, as a viewer's URLs carry it with access control on."""
    return [f"t/{token}/{path}" for path in paths] if token else paths


def scaling(make_server, infos: list, cpu_sets: list[str], protocols=PROTOCOLS,
            count: int = TILES, seed: int = 1, token: str | None = None,
            **options) -> list[dict]:
    """`measure` once per protocol and set of CPUs (taskset lists: "0", "0,1"); with `token`,
    every URL carries it (`with_token`)."""
    sections = [measure(make_server, with_token(native_tile_paths(infos, count, seed, protocol),
                                                token),
                        cpus=cpus, protocol=protocol, **options)
                for protocol in protocols for cpus in cpu_sets]
    for section in sections:
        section["access_control"] = token is not None
    return sections


def flame_graph(server, paths: list[str], out: str, *, seconds: float = 8.0,
                connections: int = CONNECTIONS, tool: str = "auto") -> dict:
    """py-spy's flame graph (SVG) of `server`'s workers serving `paths` (warmed first) under
    load; returns the load run's figures. py-spy samples every worker of the server."""
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    for _ in range(2):
        run_load(server.url, paths, seconds=max(1.0, seconds / 4), connections=connections,
                 tool=tool)
    command = [spy, "record", "--output", out, "--format", "flamegraph", "--pid",
               str(server.process.pid), "--subprocesses", "--rate", "250", "--duration",
               str(round(seconds))]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1)  # py-spy attached before the load starts
        result = run_load(server.url, paths, seconds=seconds - 2, connections=connections,
                          tool=tool)
        _, said = recorder.communicate(timeout=seconds + 60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    if recorder.returncode != 0:
        raise RuntimeError(f"py-spy failed: {said.decode('utf-8', 'replace')[-500:]}")
    return result


def markdown(sections: list[dict]) -> list[str]:
    """The report's section: one row per protocol and set of CPUs (all the machine's when
    not pinned)."""
    if not sections:
        return []
    first = sections[0]
    out = ["## Hot path: cached tiles against the ceiling", "",
           f"{first['tiles']} distinct native tiles, all in the tile cache, asked for round and "
           "round as DZI tiles (OpenSeadragon) or as IIIF Image API 3 tiles (Mirador), "
           f"over {first['connections']} connections ({first['tool']}, "
           f"{first['seconds']:g} s a run); the ceiling is bare Flask handing out bodies of "
           f"the same sizes (mean {first['body_bytes_mean']:,} bytes) from memory under the "
           "same gunicorn settings. Runs alternate between the two; medians of "
           f"{len(first['pairs'])} pairs, ratio = cached / ceiling per pair. CPU: the "
           "servers' own CPU time per request (all workers), which other work on the machine "
           "does not inflate; CPU ratio = ceiling / cached.", "",
           "| protocol | CPUs | cached tiles/s | cached p99 ms | ceiling req/s | ceiling p99 ms "
           "| ratio | pair ratios | CPU ms cached | CPU ms ceiling | CPU ratio | "
           "tile cache misses | errors |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(value, digits=0):
        return "n/a" if value is None else f"{value:,.{digits}f}"

    for s in sections:
        token = " (token)" if s.get("access_control") else ""
        out.append(f"| {s['protocol']}{token} | {s['cpus'] or 'all'} | "
                   f"{fmt(s['cached_rps'])} | "
                   f"{fmt(s['cached_p99_ms'], 1)} | {fmt(s['ceiling_rps'])} | "
                   f"{fmt(s['ceiling_p99_ms'], 1)} | {fmt(s['ratio'], 2)} | "
                   f"{', '.join(fmt(r['ratio'], 2) for r in s['pairs'])} | "
                   f"{fmt(s['cached_cpu_ms'], 3)} | {fmt(s['ceiling_cpu_ms'], 3)} | "
                   f"{fmt(s['cpu_ratio'], 2)} | {fmt(s['tile_misses'])} | {s['errors']} |")
    for protocol in dict.fromkeys(s["protocol"] for s in sections):
        rows = [s for s in sections if s["protocol"] == protocol]
        if len(rows) > 1 and all(s["cached_rps"] and s["ceiling_rps"] for s in rows):
            one, last = rows[0], rows[-1]
            out += ["", f"{protocol}, from CPUs {one['cpus']} to {last['cpus']}: cached tiles "
                        f"x{last['cached_rps'] / one['cached_rps']:.2f}, ceiling "
                        f"x{last['ceiling_rps'] / one['ceiling_rps']:.2f}."]
    return out + [""]


def main(argv: list[str] | None = None) -> int:
    from ..security.tokens import TokenSigner, parse_secrets
    from .services import Memcached
    from .slidegen import FULL_CASE, QUICK_CASE, ensure_slides
    from .traces import slide_info_from_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small generated slides")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--tiles", type=int, default=TILES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", nargs="+", type=cpu_list, default=[None], metavar="CPUS",
                        help="taskset CPU lists to run the servers on, e.g. 0 0,1 "
                             "(default: not pinned)")
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                        help="how the tiles are asked for (default: both)")
    parser.add_argument("--access-control", action="store_true",
                        help="our server with WSI_AUTH_SECRET set, a token in every URL")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--flame-graph", metavar="SVG",
                        help="instead: py-spy's flame graph of the server's workers serving "
                             "the cached tiles (py-spy must be installed)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[hot_path {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    slides, _ = ensure_slides(QUICK_CASE if args.quick else FULL_CASE, log=log)
    infos = [slide_info_from_file(s.path, s.slide_id) for s in slides]
    # the generated slides' own folder is the store (a local store refuses links out of it)
    root = slides[0].path[:-len(slides[0].slide_id)]
    env, token = {}, None
    if args.access_control:
        secret = f"bench:{secrets.token_hex(24)}"
        env["WSI_AUTH_SECRET"] = secret
        token = TokenSigner(parse_secrets(secret)).sign("", prefix=True, expires_in=3600)
    memcached = Memcached(memory_mb=256).start()
    try:
        def make_server(cpus):
            return LiveServer(root, workers=args.workers, cpus=cpus,
                              env={"WSI_MEMCACHED": memcached.address, **env})
        if args.flame_graph:
            paths = with_token(native_tile_paths(infos, args.tiles, protocol=args.protocols[0]),
                               token)
            with make_server(args.cores[0]) as server:
                load = flame_graph(server, paths, args.flame_graph, seconds=args.seconds * 2,
                                   connections=args.connections, tool=args.load_tool)
            log(f"{args.flame_graph}: {load['rps']:.0f} tiles/s while sampled")
            return 0
        sections = scaling(make_server, infos, args.cores, args.protocols, args.tiles,
                           token=token, pairs=args.pairs, seconds=args.seconds,
                           connections=args.connections, workers=args.workers,
                           tool=args.load_tool, log=log)
    finally:
        memcached.stop()
    print("\n".join(markdown(sections)))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(sections, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
