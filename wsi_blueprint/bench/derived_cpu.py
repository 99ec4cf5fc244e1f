"""CPU per derived tile against the codecs' floor, measured side by side in one run.

A derived tile is a DZI tile of the level just below a stored one: four stored JPEG tiles,
each decoded at half scale, composed and encoded once. Ours is the whole render as a worker
runs it (`SlideReader.region`: plan, the tiles read from the block cache, decode, compose,
encode), timed with the CPU clock of the one pool thread that does all of it. The floor is the
same four stored streams, already complete, decoded at half scale by libjpeg-turbo with no
Python between (simplejpeg) plus one encode of the same output pixels; the Pillow column does
the decodes in Pillow's draft mode instead. Tiles show tissue, their blocks are cached, and the
rounds alternate ours and the floors, so a busy shared machine weighs on all three alike; each
figure is the median of the rounds' means.

    python -m wsi_blueprint.bench.derived_cpu [--quick] [--tiles 400] [--rounds 5] [--profile]
"""

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import statistics
import time

import imagecodecs
import numpy as np
import simplejpeg
from PIL import Image

from ..imaging.cpu_pool import CpuPool, using
from ..imaging.jpeg_markers import with_rgb_marker
from ..imaging.region import plan_region, read_region
from ..protocols.dzi import DeepZoom
from ..reader import RegionRequest, SlideReader
from ..settings import SETTINGS, Settings
from ..state import WSIState
from . import traces as tr
from .slidegen import FULL_CASE, QUICK_CASE, ensure_slides

# What the server encodes derived tiles at unless configured otherwise.
QUALITY = next(s.default for s in SETTINGS if s.key == "WSI_JPEG_QUALITY")


@dataclasses.dataclass(frozen=True)
class DerivedTile:
    request: RegionRequest
    streams: list[bytes]     # the four stored tiles as complete streams (RGB declared)
    half: tuple[int, int]    # (width, height) each decodes to at half scale
    pixels: np.ndarray       # our output before encoding: what the floor encodes


def derived_tiles(reader: SlideReader, candidates, count: int) -> list[DerivedTile]:
    """Up to `count` of the DZI tiles `candidates` ((level, column, row) of the slide's
    default DZI) that are each made of four whole stored tiles reduced by two."""
    index = reader.info()
    dz = DeepZoom(index.width, index.height, reader.tile_size, 0)
    found = []
    for z_level, t_col, t_row in candidates:
        req = dz.request(z_level, t_col, t_row, "jpeg", QUALITY)
        plan = plan_region(reader.slide, req.l0_x, req.l0_y, req.l0_width, req.l0_height,
                           req.out_width, req.out_height)
        if plan.reduce != 2 or len(plan.coords) != 4:
            continue
        tiles = reader.slide.read_tiles(plan.level, plan.coords)
        if any(t.compression != "jpeg" or t.is_edge or t.sparse for t in tiles):
            continue
        streams = [with_rgb_marker(t.data) if t.photometric == "rgb" else t.data
                   for t in tiles]
        pixels = read_region(reader.slide, req.l0_x, req.l0_y, req.l0_width, req.l0_height,
                             req.out_width, req.out_height)
        half = (-(-tiles[0].width // 2), -(-tiles[0].height // 2))
        found.append(DerivedTile(req, streams, half, pixels))
        if len(found) == count:
            break
    return found


def floor_decode(tile: DerivedTile) -> list[np.ndarray]:
    """The four stored tiles at half scale, straight from libjpeg-turbo."""
    width, height = tile.half
    return [simplejpeg.decode_jpeg(s, "RGB", min_width=width, min_height=height)
            for s in tile.streams]


def _floor(tile: DerivedTile) -> None:
    floor_decode(tile)
    imagecodecs.jpeg8_encode(tile.pixels, QUALITY)


def _pillow_floor(tile: DerivedTile) -> None:
    for stream in tile.streams:
        image = Image.open(io.BytesIO(stream))
        image.draft("RGB", tile.half)
        image.load()
    Image.fromarray(tile.pixels).save(io.BytesIO(), "JPEG", quality=QUALITY)


def floor_ms(tiles: list[DerivedTile]) -> float:
    """The codecs' floor of these tiles: mean CPU milliseconds of this thread per tile."""
    return _cpu_ms(_floor, tiles)


def _cpu_ms(work, items) -> float:
    """Mean CPU milliseconds of this thread per item."""
    began = time.thread_time()
    for item in items:
        work(item)
    return (time.thread_time() - began) / len(items) * 1000


def _profile(reader: SlideReader, chosen: list[DerivedTile], lines: int = 30) -> str:
    """Where ours spends its CPU: cProfile over one more pass, functions by their own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for item in chosen:
        reader.region(item.request)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def measure(reader: SlideReader, info: tr.SlideInfo, tiles: int = 400, rounds: int = 5,
            profile: bool = False) -> dict:
    """{"tiles", "ours_ms", "floor_ms", "pillow_floor_ms", "ratio"}: CPU milliseconds per
    derived tile, medians of `rounds` alternating rounds; `ratio` is ours over the floor.
    With `profile`, "profile" holds cProfile's table of one more pass of ours."""
    pool = CpuPool(threads=1)
    reader = SlideReader(reader.slide, reader.slide_id, pool)  # nested jobs run inline
    try:
        chosen = derived_tiles(reader, info.derived_tiles(seed=1)[0], tiles)
        if not chosen:
            raise RuntimeError(f"{reader.slide_id}: no tissue tile below a stored level is "
                               "made of four stored JPEG tiles")

        def rounds_in_pool(_):
            figures = {"ours_ms": [], "floor_ms": [], "pillow_floor_ms": []}
            for item in chosen:  # warm: code paths, caches
                reader.region(item.request)
                _floor(item)
                _pillow_floor(item)
            for _ in range(rounds):
                figures["ours_ms"].append(_cpu_ms(lambda t: reader.region(t.request), chosen))
                figures["floor_ms"].append(_cpu_ms(_floor, chosen))
                figures["pillow_floor_ms"].append(_cpu_ms(_pillow_floor, chosen))
            medians = {name: statistics.median(values) for name, values in figures.items()}
            return medians, _profile(reader, chosen) if profile else None

        with using(pool):
            result, profiled = pool.run(rounds_in_pool, None, timeout=600)
    finally:
        pool.close()
    row = {"slide": info.slide_id, "tiles": len(chosen), "rounds": rounds,
           **{k: round(v, 3) for k, v in result.items()},
           "ratio": round(result["ours_ms"] / result["floor_ms"], 2)}
    return {**row, "profile": profiled} if profiled else row


def open_reader(path: str) -> SlideReader:
    """A reader of the local file `path`, with caches of its own and prefetch off."""
    folder, name = os.path.split(os.path.realpath(path))
    state = WSIState.build(Settings.from_mapping({"WSI_STORE": f"file://{folder}",
                                                  "WSI_PREFETCH": "off"}))
    return state.readers.open(name)


def run(quick: bool = False, tiles: int = 400, rounds: int = 5, cache_dir: str | None = None,
        testdata: str | None = None, log=print, profile: bool = False) -> dict:
    """The measurement on the largest slide of the generated case."""
    slides, _ = ensure_slides(QUICK_CASE if quick else FULL_CASE, cache_dir, testdata, log)
    slide = max(slides, key=lambda s: s.width * s.height)
    info = tr.slide_info_from_file(slide.path, slide.slide_id)
    return measure(open_reader(slide.path), info, tiles, rounds, profile)


def for_suite(slides: list, infos: list, quick: bool) -> dict:
    """The measurement on the suite's largest slide; {"skipped": why} where it has no tile
    to measure (slides of other codecs or layouts)."""
    slide, info = max(zip(slides, infos),
                      key=lambda pair: pair[1].geometry.width * pair[1].geometry.height)
    try:
        return measure(open_reader(slide.path), info, tiles=100 if quick else 400,
                       rounds=3 if quick else 5)
    except RuntimeError as exc:
        return {"skipped": str(exc)}


def to_markdown(row: dict) -> str:
    return ("| slide | derived tiles | ours ms CPU | floor ms (libjpeg-turbo) "
            "| floor ms (Pillow draft) | ours / floor |\n|---|---|---|---|---|---|\n"
            f"| {row['slide']} | {row['tiles']} | {row['ours_ms']:.2f} | {row['floor_ms']:.2f} "
            f"| {row['pillow_floor_ms']:.2f} | {row['ratio']:.2f} |\n")


def report_lines(row: dict | None) -> list[str]:
    """The benchmark report's section (report.py)."""
    if not row:
        return []
    out = ["## CPU per derived tile", "",
           "A DZI tile of the level just below a stored one, made from four stored JPEG tiles "
           "decoded at half scale, in process with its blocks cached: the render's CPU time "
           "beside the codecs' floor (the same four decodes and one encode with nothing "
           "between), medians of alternating rounds (bench/derived_cpu.py).", ""]
    if row.get("skipped"):
        return out + [f"Not measured: {row['skipped']}", ""]
    return out + to_markdown(row).splitlines() + [""]


def summary(row: dict | None) -> str | None:
    """One line for the command's output."""
    if not row:
        return None
    if row.get("skipped"):
        return f"CPU per derived tile: not measured ({row['skipped']})"
    return (f"CPU per derived tile: {row['ours_ms']:.2f} ms, codec floor {row['floor_ms']:.2f} "
            f"ms (Pillow draft {row['pillow_floor_ms']:.2f} ms), {row['ratio']:.2f}x the floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small generated case")
    parser.add_argument("--tiles", type=int, default=400, help="derived tiles (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--cache-dir", help="where generated slides are kept")
    parser.add_argument("--profile", action="store_true",
                        help="also print where ours spends its CPU (cProfile, one more pass)")
    args = parser.parse_args(argv)
    row = run(args.quick, args.tiles, args.rounds, args.cache_dir, profile=args.profile)
    print(to_markdown(row), end="")
    if args.profile:
        print(row["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
