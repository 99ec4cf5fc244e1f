"""How long a viewer waits for tiles rendered on demand, with nothing else in the way.

This is the floor under any prefetcher that fetches bytes ahead but cannot know where the
viewer goes (a navigator click lands anywhere): the server runs on the generated case from
local files, without a tile cache and with prefetch off, so every request renders, and the
stored tiles come from the page cache. Screens of OpenSeadragon's 1600 x 900 viewport are
asked for with a browser's six connections, a screen at a time, at the four finest DZI levels
of the largest slide: stored levels (tiles passed through) and resampled ones (each tile made
from four stored tiles, decoded at half size). Reported per level: tile latency p50/p95/p99,
tiles a second and the workers' CPU per tile (the whole request: HTTP, routing, reading the
tiles, rendering, the access log line; /proc of the workers before and after each screen).
Beside a resampled level's figure is the codecs' floor of its tiles made of four whole stored
tiles, measured in this process after each screen while the workers idle (the four half-scale
decodes and one encode, nothing between): a shared machine slows both alike, so their ratio
compares hours that milliseconds cannot. `--prefetch on` adds the prefetcher's work to the
same figures: what it reads and renders ahead is counted against the tiles served.

With `--cores 0 0,1` the server runs pinned to each set of CPUs in turn (`taskset -c`; the
viewer and the floor are not pinned): what a second core buys. `--protocol iiif` asks for the
same tiles as Mirador does, as the IIIF Image API 3 tiles info.json advertises.

    python -m wsi_blueprint.bench.render_burst [--quick] [--screens 6] [--prefetch on]
                                               [--cores 0 0,1] [--protocol iiif] [--out DIR]
"""

import argparse
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from . import traces as tr
from .derived_cpu import derived_tiles, floor_ms, open_reader
from .live_server import LiveServer, cpu_list
from .replay import Connections, percentile, pixels_made
from .slidegen import LAYOUTS, case_of, ensure_slides

CONNECTIONS = 6  # a browser's per host


def _screens(info: tr.SlideInfo, level: int, count: int, seed: int
             ) -> list[list[tuple[int, int]]]:
    """`count` screenfuls of tiles (column, row) at `level`, centred on tissue."""
    geometry, rng = info.geometry, random.Random(seed)
    scale = geometry.scale(level)
    half_w, half_h = tr.VIEWPORT[0] * scale / 2, tr.VIEWPORT[1] * scale / 2
    screens = []
    for x, y in rng.sample(info.tissue, count):
        tiles = geometry.visible_tiles(level, x - half_w, y - half_h, x + half_w, y + half_h)
        screens.append(list(tiles))
    return screens


def run(quick: bool, screens: int, out: str, prefetch: str = "off",
        cores: list[str | None] | None = None, layout: str = "aperio",
        protocol: str = "dzi") -> list[dict]:
    """Every level's figures, once per set of CPUs in `cores` (taskset lists such as "0" and
    "0,1" for the server; None: not pinned), each on a server of its own; the generated case
    in `layout` (`slidegen.LAYOUTS`); the tiles asked for as `protocol` names them."""
    slides, _ = ensure_slides(case_of(layout, quick), None, None, print)
    slide, info = max(((s, tr.slide_info_from_file(s.path, s.slide_id)) for s in slides),
                      key=lambda pair: pair[1].geometry.width * pair[1].geometry.height)
    reader = open_reader(slide.path)  # in this process, for the codecs' floor
    root = slides[0].path[:-len(slides[0].slide_id)]  # the folder the slide ids start in
    env = {"WSI_STORE": f"file://{root}", "WSI_TILE_CACHE_BYTES": "0", "WSI_PREFETCH": prefetch}
    rows = []
    for cpus in cores or [None]:
        with LiveServer(None, workers=2, env=env, cpus=cpus) as server:
            levels = _levels(server, info, reader, screens, protocol)
            rows += [{"cpus": server.worker_cpus(), **row} for row in levels]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "render-burst.json"), "w") as f:
        json.dump({"slide": info.slide_id, "prefetch": prefetch, "protocol": protocol,
                   "levels": rows}, f, indent=1)
    with open(os.path.join(out, "render-burst.md"), "w") as f:
        f.write(to_markdown(rows))
    return rows


def _levels(server: LiveServer, info: tr.SlideInfo, reader, screens: int,
            protocol: str) -> list[dict]:
    """The four finest DZI levels' screens asked of `server` (as DZI tiles, or the same tiles
    as IIIF ones): one row of figures a level."""
    levels = range(info.geometry.max_level, info.geometry.max_level - 4, -1)
    rows = []
    with ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="viewer") as pool:
        connections = Connections(server.url, timeout=60)

        def timed(url: str) -> tuple[float, bool]:
            """(ms, whether the server decoded pixels for it: rendered, or a stored edge tile
            transcoded; from Server-Timing)."""
            began = time.perf_counter()
            status, _, headers = connections.get(url)
            if status != 200:
                raise RuntimeError(f"{url}: HTTP {status}")
            return (time.perf_counter() - began) * 1000, pixels_made(
                headers.get("Server-Timing", ""))

        for level in levels:
            stored = round(info.geometry.scale(level)) in info.native
            screen_tiles = _screens(info, level, screens, seed=level)
            level_screens = [[tr.tile_url_as(protocol, info, level, c, r) for c, r in tiles]
                             for tiles in screen_tiles]
            floors = [] if stored else [  # those of the screens' tiles made of four whole ones
                derived_tiles(reader, [(level, c, r) for c, r in tiles], len(tiles))
                for tiles in screen_tiles]
            for urls in level_screens:  # opens the slide in both workers, fills the page cache
                list(pool.map(timed, urls))
            answers, busy, spans, floor_total, floor_tiles = [], 0.0, [], 0.0, 0
            for i, urls in enumerate(level_screens):
                cpu_before = server.worker_cpu_seconds()
                began = time.perf_counter()
                answers += pool.map(timed, urls)
                busy += time.perf_counter() - began
                cpu_after = server.worker_cpu_seconds()
                spans.append(None if None in (cpu_before, cpu_after) else cpu_after - cpu_before)
                if floors and floors[i]:  # with the workers idle, so as not to slow them
                    floor_total += floor_ms(floors[i]) * len(floors[i])
                    floor_tiles += len(floors[i])
            latencies = [ms for ms, _ in answers]
            floor = floor_total / floor_tiles if floor_tiles else None
            worker_cpu = None if None in spans else sum(spans) / len(latencies) * 1000
            rows.append({"level": level, "scale": info.geometry.scale(level),
                         "tiles": "stored" if stored else "resampled",
                         "requests": len(latencies),
                         "decoded_share": sum(decoded for _, decoded in answers) / len(answers),
                         "p50": percentile(latencies, 50),
                         "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
                         "tiles_per_second": len(latencies) / busy,
                         "worker_cpu_ms": worker_cpu, "floor_ms": floor,
                         "over_floor": None if floor is None or worker_cpu is None
                         else worker_cpu / floor})
        connections.close()
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| server CPUs | DZI level | scale | tiles | requests | decoded | p50 / p95 / p99 ms "
             "| tiles/s | worker CPU ms/tile | codecs' floor ms/tile | over the floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cpu = "n/a" if row["worker_cpu_ms"] is None else f"{row['worker_cpu_ms']:.2f}"
        floor = "" if row["floor_ms"] is None else f"{row['floor_ms']:.2f}"
        over = "" if row["over_floor"] is None else f"{row['over_floor']:.2f}x"
        lines.append(f"| {row['cpus']} | {row['level']} | 1/{row['scale']} | {row['tiles']} "
                     f"| {row['requests']} "
                     f"| {row['decoded_share'] * 100:.0f} % "
                     f"| {row['p50']:.1f} / {row['p95']:.1f} / {row['p99']:.1f} | "
                     f"{row['tiles_per_second']:.0f} | {cpu} | {floor} | {over} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small generated case")
    parser.add_argument("--screens", type=int, default=6, help="screens per level")
    parser.add_argument("--prefetch", choices=("off", "on"), default="off",
                        help="the prefetcher's work counted in the figures too")
    parser.add_argument("--cores", nargs="+", type=cpu_list, default=[None], metavar="CPUS",
                        help="taskset CPU lists to run the server on in turn, e.g. 0 0,1 "
                             "(default: not pinned)")
    parser.add_argument("--layout", choices=LAYOUTS, default="aperio",
                        help="the generated case's file layout (default: %(default)s)")
    parser.add_argument("--protocol", choices=("dzi", "iiif"), default="dzi",
                        help="the tiles asked for as DZI tiles or as IIIF ones (default: "
                             "%(default)s)")
    parser.add_argument("--out", default="bench-report")
    args = parser.parse_args(argv)
    print(to_markdown(run(args.quick, args.screens, args.out, args.prefetch, args.cores,
                          args.layout, args.protocol)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
