"""What opening a slide and reading one tile costs in store requests, bytes and time.

Each slide is put into an S3 server on loopback (moto) and read through the real data path:
S3 store, range reader, block cache, formats. Four situations, each from the counters:

- cold: a fresh process, nothing cached anywhere;
- warm: the same process again (the open slide and its blocks are cached);
- other tile: the same process, a tile at the far corner of level 0;
- second worker: a fresh process sharing the first one's memcached.

    python -m wsi_blueprint.bench.open_cost [--testdata DIR] [SLIDE ...]
"""

import argparse
import json
import os
import time

from ..settings import Settings
from ..state import WSIState
from .services import Memcached, S3Server

DEFAULT_SLIDES = ["CMU-1-Small-Region.svs", "TCGA-CR-7395-J2K-33005.svs",
                  "DAPI-fluorescence.ndpi", "boxes.tiff"]


def _measure(state: WSIState, slide_id: str, tile: str) -> dict:
    counters = state.counters
    before_requests, before_bytes = counters.get("store_requests"), counters.get("store_bytes")
    began = time.perf_counter()
    slide = state.library.open(slide_id)
    opened = time.perf_counter()
    open_requests = counters.get("store_requests") - before_requests
    open_bytes = counters.get("store_bytes") - before_bytes
    cols, rows = slide.tile_grid(0)
    coords = (0, 0) if tile == "first" else (cols - 1, rows - 1)
    slide.read_tiles(0, [coords])
    done = time.perf_counter()
    return {
        "open_requests": open_requests, "open_bytes": open_bytes,
        "open_ms": round((opened - began) * 1000, 2),
        "tile_requests": counters.get("store_requests") - before_requests - open_requests,
        "tile_bytes": counters.get("store_bytes") - before_bytes - open_bytes,
        "tile_ms": round((done - opened) * 1000, 2),
    }


def run(slides: list[str], testdata: str) -> list[dict]:
    s3 = S3Server()
    memcached = Memcached().start()
    try:
        bucket = s3.new_bucket()
        settings = Settings.from_mapping({
            "WSI_STORE": f"s3://{bucket}", "WSI_S3_ENDPOINT_URL": s3.endpoint,
            "WSI_MEMCACHED": memcached.address})
        rows = []
        for name in slides:
            with open(os.path.join(testdata, name), "rb") as f:
                data = f.read()
            s3.put(bucket, name, data)
            first, second = WSIState.build(settings), WSIState.build(settings)
            for situation, state, tile in (("cold", first, "first"), ("warm", first, "first"),
                                           ("other tile", first, "last"),
                                           ("second worker", second, "first")):
                rows.append({"slide": name, "size": len(data), "situation": situation,
                             **_measure(state, name, tile)})
        return rows
    finally:
        memcached.stop()
        s3.stop()


def to_markdown(rows: list[dict]) -> str:
    lines = ["| slide | situation | open requests | open bytes | open ms | tile requests "
             "| tile bytes | tile ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['slide']} | {r['situation']} | {r['open_requests']} | "
                     f"{r['open_bytes']:,} | {r['open_ms']} | {r['tile_requests']} | "
                     f"{r['tile_bytes']:,} | {r['tile_ms']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slides", nargs="*", default=DEFAULT_SLIDES)
    parser.add_argument("--testdata", default=os.environ.get("WSI_TESTDATA", "../shared/testdata"))
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    slides = [s for s in args.slides if os.path.isfile(os.path.join(args.testdata, s))]
    rows = run(slides, args.testdata)
    print(to_markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
