"""What colour management costs per tile, for each mode, on generated slides with profiles.

The generated Aperio slide (slidegen: 240 px RGB JPEG tiles of real H&E pixels) is written
twice, once with a scanner-size profile (a 1.6 MB LUT, as GT450 slides carry) and once with
a small one (an 8 KB LUT). Two measurements for each mode (raw, embed, srgb):

- per tile, in process: the reader's work and the bytes of distinct stored level-0 tiles
  (passed through undecoded in raw and embed) and of rendered tiles (a DZI level between the
  stored ones), its store blocks cached, no tile cache;
- under load: the standalone server (gunicorn, two gevent workers, no tile cache, prefetch
  off) asked for distinct stored level-0 tiles over 16 connections (wrk where installed):
  tiles/s, latency percentiles and megabytes sent.

    python -m wsi_blueprint.bench.color [--quick] [--seconds 6] [--json FILE]
"""

import argparse
import dataclasses
import json
import os
import statistics
import time

from . import icc_profiles
from .slidegen import FULL_CASE, QUICK_CASE, default_cache_dir, find_testdata, source_mosaic, \
    write_slide

MODES = ("raw", "embed", "srgb")
VERSION = 1


def _profiles() -> dict[str, bytes]:
    return {"profile-1.6MB": icc_profiles.lut_profile(65),
            "profile-8KB": icc_profiles.lut_profile(9)}


def ensure_slides(quick: bool, cache_dir: str | None = None, log=print) -> tuple[str, dict]:
    """(folder, {slide id: profile size}): the generated slide with each profile."""
    spec = (QUICK_CASE if quick else FULL_CASE)[0]
    testdata = find_testdata()
    folder = os.path.join(cache_dir or default_cache_dir(),
                          f"color-v{VERSION}-{'real' if testdata else 'synthetic'}")
    slides, source = {}, None
    for name, profile in _profiles().items():
        slide_id = f"{name}-{spec.width}x{spec.height}.svs"
        path = os.path.join(folder, slide_id)
        if not os.path.isfile(path):
            if source is None:
                source, _ = source_mosaic(testdata)
            log(f"generating {slide_id} in {folder}")
            write_slide(path, dataclasses.replace(spec, slide_id=slide_id), source, profile)
        slides[slide_id] = len(profile)
    return folder, slides


def _requests(reader, mode: str, count: int):
    """`count` distinct stored level-0 tiles from the middle of the slide, and `count` tiles
    of the DZI level at scale 2 (rendered from level 0)."""
    from ..reader import RegionRequest
    def middle(cols: int, rows: int) -> list[tuple[int, int]]:
        return [(c, r) for r in range(rows // 4, rows) for c in range(cols // 4, cols)][:count]

    cols, rows = reader.slide.tile_grid(0)
    stored = [reader.stored_tile_request(0, c, r, 80, mode) for c, r in middle(cols, rows)]
    size = reader.slide.levels[0].tile_width
    color = reader.color_for(mode)
    rendered = [RegionRequest(c * 2 * size, r * 2 * size, 2 * size, 2 * size, size, size,
                              "jpeg", 80, color=color)
                for c, r in middle((cols - 1) // 2, (rows - 1) // 2)]
    return {"stored": stored, "rendered": rendered}


def per_tile(folder: str, slide_id: str, count: int) -> list[dict]:
    """Median ms and mean bytes per tile of each mode and kind, in process."""
    from ..settings import Settings
    from ..state import WSIState
    state = WSIState.build(Settings.from_mapping({
        "WSI_STORE": f"file://{folder}", "WSI_PREFETCH": "off", "WSI_TILE_CACHE_BYTES": "0",
        "WSI_BLOCK_CACHE_BYTES": "1G"}))
    reader = state.readers.open(slide_id)
    rows = []
    for mode in MODES:
        for kind, requests in _requests(reader, mode, count).items():
            for req in requests[:4]:  # blocks cached, transform built, pool warm
                reader.image(req)
            times, sizes = [], []
            for req in requests:
                began = time.perf_counter()
                sizes.append(len(reader.image(req)))
                times.append((time.perf_counter() - began) * 1000)
            rows.append({"slide": slide_id, "mode": mode, "tiles": kind,
                         "ms": round(statistics.median(times), 3),
                         "bytes": round(statistics.mean(sizes))})
    reader.pool.close()
    return rows


def under_load(folder: str, slides: list[str], seconds: float) -> list[dict]:
    """Tiles/s and latency of distinct stored tiles per slide and mode, on the live server."""
    from .live_server import LiveServer
    from .load import run_load
    from .traces import slide_info_from_file
    env = {"WSI_TILE_CACHE_BYTES": "0", "WSI_PREFETCH": "off"}
    rows = []
    with LiveServer(folder, workers=2, env=env) as server:
        for slide_id in slides:
            info = slide_info_from_file(os.path.join(folder, slide_id), slide_id)
            level = info.geometry.max_level
            cols, rows_ = info.geometry.grid(level)
            tiles = [(c, r) for r in range(rows_) for c in range(cols)]
            share = len(tiles) // len(MODES)  # each mode its own tiles: none cached before
            for i, mode in enumerate(MODES):
                paths = [f"dzi/{slide_id}_files/{level}/{c}_{r}.jpeg?color={mode}"
                         for c, r in tiles[i * share:(i + 1) * share]]
                result = run_load(server.url, paths, seconds=seconds, connections=16,
                                  unique=True)
                rows.append({"slide": slide_id, "mode": mode, **result})
    return rows


def to_markdown(tile_rows: list[dict], load_rows: list[dict]) -> str:
    lines = ["| slide | mode | stored tile ms | stored tile bytes | rendered tile ms "
             "| rendered tile bytes |", "|---|---|---|---|---|---|"]
    for first in tile_rows[::2]:
        second = next(r for r in tile_rows if r["slide"] == first["slide"]
                      and r["mode"] == first["mode"] and r["tiles"] == "rendered")
        lines.append(f"| {first['slide']} | {first['mode']} | {first['ms']:.2f} | "
                     f"{first['bytes']:,} | {second['ms']:.2f} | {second['bytes']:,} |")
    if load_rows:
        lines += ["", "| slide | mode | tiles/s | p50 ms | p99 ms | MB/s sent | errors |",
                  "|---|---|---|---|---|---|---|"]
        for r in load_rows:
            megabytes = r["bytes"] / 1e6 / r["seconds"] if r.get("seconds") else 0
            lines.append(f"| {r['slide']} | {r['mode']} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
                         f"| {r['p99_ms']:.1f} | {megabytes:.1f} | {r['errors']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small generated slide")
    parser.add_argument("--tiles", type=int, default=200, help="tiles per mode in process")
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="length of each load run; 0 skips the live server")
    parser.add_argument("--cache-dir", help="where generated slides are kept")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    folder, slides = ensure_slides(args.quick, args.cache_dir)
    tile_rows = [row for slide_id in slides for row in per_tile(folder, slide_id, args.tiles)]
    load_rows = under_load(folder, list(slides), args.seconds) if args.seconds > 0 else []
    print(to_markdown(tile_rows, load_rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tiles": tile_rows, "load": load_rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
