"""The benchmark's DICOM case: a generated slide as SVS and as a DICOM series, side by side,
and levels of many frames opened cold and again, all from the simulated S3.

Each figure comes from an in-process app (the blueprint as a host app mounts it, prefetch off
so only the request's own reads count) over the simulated S3 with the run's latency and
bandwidth, caches shared through a fresh memcached:

- open: the first GET /slides/<id> of a fresh app (for a series: the listing and the headers
  of its instances), store requests, bytes and wall time;
- second worker: the same GET from another fresh app sharing the memcached (the parsed slide,
  a series' frame index with it, comes from there);
- tiles: DZI tiles of the centre of the slide, one after another from the first app, stored
  ones (level 0 and the 1/4 level, passed through) and derived ones (resampled), latency and
  store traffic.

    python -m wsi_blueprint.bench.dicom_case [--quick] [--frames-grid 250x200] [--json F]
"""

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time

from .replay import percentile

FRAMES_GRID = (250, 200)  # 50,000 frames
QUICK_FRAMES_GRID = (100, 50)
TILE_BLOCK = 4  # a 4 x 4 block of tiles per DZI level


def _app(store, memcached):
    from ..app import create_app

    return create_app({"WSI_STORE": "s3://slides", "WSI_S3_ENDPOINT_URL": store.endpoint,
                       "WSI_S3_REGION": "us-east-1", "WSI_MEMCACHED": memcached.address,
                       "WSI_PREFETCH": "off"}).test_client()


def _timed_get(client, store, path: str) -> dict:
    """One GET: status, ms, and what the store served for it."""
    store.reset()
    began = time.perf_counter()
    response = client.get(path)
    ms = (time.perf_counter() - began) * 1000
    stats = store.stats()
    return {"status": response.status_code, "ms": round(ms, 2),
            "requests": stats["requests"], "bytes": stats["bytes"], "body": response.data}


def _open(client, store, slide_id: str) -> dict:
    got = _timed_get(client, store, f"/slides/{slide_id}")
    if got["status"] != 200:
        raise RuntimeError(f"{slide_id}: {got['status']} {got['body'][:300]!r}")
    return {k: got[k] for k in ("ms", "requests", "bytes")}


def tile_paths(client, slide_id: str) -> dict[str, list[str]]:
    """DZI tile paths by kind: 'stored' (level 0, and the 1/4 level) and 'derived' (1/2)."""
    import math

    meta = client.get(f"/slides/{slide_id}").get_json()
    width, height = meta["width"], meta["height"]
    top = math.ceil(math.log2(max(width, height)))
    tile = meta["levels"][0]["tile_width"]
    paths: dict[str, list[str]] = {"stored": [], "derived": []}
    for kind, shift in (("stored", 0), ("derived", 1), ("stored", 2)):
        cols = -(-(width >> shift) // tile)
        rows = -(-(height >> shift) // tile)
        c0, r0 = max(0, cols // 2 - TILE_BLOCK // 2), max(0, rows // 2 - TILE_BLOCK // 2)
        paths[kind] += [f"/dzi/{slide_id}_files/{top - shift}/{c}_{r}.jpeg"
                        for r in range(r0, min(rows, r0 + TILE_BLOCK))
                        for c in range(c0, min(cols, c0 + TILE_BLOCK))]
    return paths


def _tiles(client, store, paths: list[str]) -> dict:
    times, requests, sent = [], 0, 0
    for path in paths:
        got = _timed_get(client, store, path)
        if got["status"] != 200:
            raise RuntimeError(f"{path}: {got['status']} {got['body'][:300]!r}")
        times.append(got["ms"])
        requests += got["requests"]
        sent += got["bytes"]
    return {"tiles": len(times), "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95), "requests": requests, "bytes": sent}


def compare_formats(store, memcached_factory, slides: dict[str, str]) -> list[dict]:
    """slides: format name -> slide id in the bucket, the same slide in each format."""
    rows = []
    for fmt, slide_id in slides.items():
        memcached = memcached_factory()
        try:
            first, second = _app(store, memcached), _app(store, memcached)
            row = {"format": fmt, "slide_id": slide_id, "open": _open(first, store, slide_id)}
            paths = tile_paths(first, slide_id)
            row["tiles"] = {kind: _tiles(first, store, p) for kind, p in paths.items()}
            row["second_worker"] = _open(second, store, slide_id)
            rows.append(row)
        finally:
            memcached.stop()
    return rows


def open_frames_levels(store, memcached_factory, levels: dict[str, tuple]) -> list[dict]:
    """levels: slide id -> (offset table, columns, rows, distinct frames): each opened cold,
    its last frame read and checked, then opened by a second app sharing the memcached."""
    from .dicomgen import frame_of

    measured = []
    for slide_id, (offset_table, columns, rows, jpegs) in levels.items():
        memcached = memcached_factory()
        try:
            first, second = _app(store, memcached), _app(store, memcached)
            row = {"slide_id": slide_id, "offset_table": offset_table,
                   "frames": columns * rows, "cold": _open(first, store, slide_id)}
            last = frame_of(jpegs, columns * rows - 1)
            got = _timed_get(first, store, f"/tiles/{slide_id}/0/{columns - 1}/{rows - 1}.jpg")
            row["last_frame"] = {"status": got["status"], "ms": got["ms"],
                                 "requests": got["requests"],
                                 "as_stored": got["body"] in (last, last.rstrip(b"\x00"))}
            row["second_worker"] = _open(second, store, slide_id)
            measured.append(row)
        finally:
            memcached.stop()
    return measured


def run(source_slide: str, cache_dir: str, *, latency_ms: float, bandwidth_mbps: float,
        frames_grid: tuple[int, int] = FRAMES_GRID, log=print) -> dict:
    """The whole DICOM case over its own simulated S3 (the run's network model)."""
    from .dicomgen import ensure_frames_level, ensure_series, level_frames
    from .s3sim import SimulatedS3
    from .services import Memcached

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    series = ensure_series(source_slide, log)
    root = tempfile.mkdtemp(prefix="wsi-bench-dicom-")
    bucket = os.path.join(root, "slides")
    os.makedirs(os.path.join(bucket, "series"))
    os.symlink(source_slide, os.path.join(bucket, "slide.svs"))
    for name in os.listdir(series):
        os.symlink(os.path.join(series, name), os.path.join(bucket, "series", name))
    columns, rows = frames_grid
    levels = {}
    for offset_table in ("empty", "eot"):
        path = ensure_frames_level(cache_dir, columns, rows, offset_table)
        slide_id = f"frames-{offset_table}"
        os.makedirs(os.path.join(bucket, slide_id))
        os.symlink(path, os.path.join(bucket, slide_id, "level.dcm"))
        levels[slide_id] = (offset_table, columns, rows, level_frames())
    store = SimulatedS3(root, latency_ms=latency_ms, bandwidth_mbps=bandwidth_mbps).start()
    try:
        log("DICOM case: the slide as SVS and as a DICOM series")
        comparison = compare_formats(store, lambda: Memcached().start(),
                                     {"svs": "slide.svs", "dicom": "series"})
        log(f"DICOM case: levels of {columns * rows:,} frames, cold and again")
        frames = open_frames_levels(store, lambda: Memcached().start(), levels)
    finally:
        store.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"source": os.path.basename(source_slide), "latency_ms": latency_ms,
            "bandwidth_mbps": bandwidth_mbps, "comparison": comparison, "frames": frames}


def for_bench(slide_path: str, options, log) -> dict:
    """The case inside `wsi-blueprint bench`; a missing writer or a failure becomes a note in
    the report, which still stands without it."""
    from .slidegen import default_cache_dir

    if importlib.util.find_spec("wsidicomizer") is None:
        return {"skipped": "wsidicomizer is not installed (pip install 'wsi_blueprint[bench]')"}
    try:
        return run(slide_path, options.cache_dir or default_cache_dir(),
                   latency_ms=options.latency_ms, bandwidth_mbps=options.bandwidth_mbps,
                   frames_grid=QUICK_FRAMES_GRID if options.quick else FRAMES_GRID, log=log)
    except Exception as exc:  # noqa: BLE001 - any failure: the other figures still stand
        return {"skipped": f"failed: {type(exc).__name__}: {str(exc)[:300]}"}


def _size(n: int) -> str:
    return f"{n / 1e6:,.2f} MB" if n >= 100_000 else f"{n / 1e3:,.1f} kB"


def to_markdown(case: dict) -> list[str]:
    """The report's DICOM section."""
    if case.get("skipped"):
        return ["## DICOM", "", f"Skipped: {case['skipped']}", ""]
    out = ["## DICOM", "",
           f"`{case['source']}` as an Aperio SVS and as a DICOM series (wsidicomizer: the same "
           "JPEG tiles as frames, Basic Offset Tables), each opened by a fresh in-process app "
           f"over the simulated S3 ({case['latency_ms']:g} ms first-byte latency), prefetch "
           "off. Open: GET /slides/<id>. Second worker: another fresh app sharing the "
           "memcached. Tiles: a 4 x 4 block of DZI tiles at the slide's centre per level, one "
           "after another (stored: level 0 and the 1/4 level, passed through; derived: the "
           "1/2 DZI level, resampled).", "",
           "| format | open requests | open bytes | open ms | second worker requests | "
           "second worker ms | stored tiles p50 / p95 ms | stored tiles store requests | "
           "derived tiles p50 / p95 ms | derived tiles store requests |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in case["comparison"]:
        o, s, t = r["open"], r["second_worker"], r["tiles"]
        out.append(f"| {r['format']} | {o['requests']} | {_size(o['bytes'])} | {o['ms']:,.0f} | "
                   f"{s['requests']} | {s['ms']:,.0f} | "
                   f"{t['stored']['p50_ms']:.1f} / {t['stored']['p95_ms']:.1f} | "
                   f"{t['stored']['requests']} | "
                   f"{t['derived']['p50_ms']:.1f} / {t['derived']['p95_ms']:.1f} | "
                   f"{t['derived']['requests']} |")
    out += ["", "Levels of many small frames (16 x 16 px JPEG, one instance each): opened "
            "cold, the last frame served, opened again by a second worker sharing the memcached "
            "(the frame index cached with the parsed series).", "",
            "| level | offsets | frames | cold open s | cold requests | cold bytes | "
            "last frame as stored | second worker requests | second worker bytes | "
            "second worker ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in case["frames"]:
        c, s = r["cold"], r["second_worker"]
        offsets = {"empty": "empty BOT (item walk)", "eot": "Extended Offset Table",
                   "bot": "Basic Offset Table"}[r["offset_table"]]
        out.append(f"| {r['slide_id']} | {offsets} | {r['frames']:,} | {c['ms'] / 1000:.2f} | "
                   f"{c['requests']} | {_size(c['bytes'])} | "
                   f"{'yes' if r['last_frame']['as_stored'] else 'NO'} | {s['requests']} | "
                   f"{_size(s['bytes'])} | {s['ms']:,.0f} |")
    return out + [""]


def main(argv: list[str] | None = None) -> int:
    from .slidegen import FULL_CASE, QUICK_CASE, default_cache_dir, ensure_slides

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the quick case's first slide "
                                                             "and 5,000 frames")
    parser.add_argument("--frames-grid", help="columns x rows of the many-frames levels "
                                              "(default 250x200; quick 100x50)")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0)
    parser.add_argument("--cache-dir", default=default_cache_dir())
    parser.add_argument("--testdata")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    grid = QUICK_FRAMES_GRID if args.quick else FRAMES_GRID
    if args.frames_grid:
        grid = tuple(int(v) for v in args.frames_grid.lower().split("x"))
    slides, _ = ensure_slides((QUICK_CASE if args.quick else FULL_CASE)[:1], args.cache_dir,
                              args.testdata)
    case = run(slides[0].path, args.cache_dir, latency_ms=args.latency_ms,
               bandwidth_mbps=args.bandwidth_mbps, frames_grid=grid)
    print("\n".join(to_markdown(case)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(case, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
