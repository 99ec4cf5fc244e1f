"""Region reads against OpenSlide's read_region, on the same local file, in one run.

Random regions at 1:1 and 4:1 to a 512 px output: ours through the file store and the block
cache (decode in the CPU pool, DCT scaling and box reduction before the Lanczos step), OpenSlide
reading the best level and resizing with Lanczos as a viewer of it would. Milliseconds per
region; the ratio is the figure that counts on a shared machine.

    python -m wsi_blueprint.bench.regions [SLIDE] [--regions 40]
"""

import argparse
import os
import random
import time

from ..imaging.region import read_region
from ..settings import Settings
from ..state import WSIState
from .slidegen import QUICK_CASE, ensure_slides


def compare(path: str, regions: int = 40, seed: int = 1) -> list[dict]:
    import openslide
    from PIL import Image

    folder, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    state = WSIState.build(Settings.from_mapping({"WSI_STORE": f"file://{folder}",
                                                  "WSI_PREFETCH": "off"}))
    slide = state.library.open(name)
    reference = openslide.OpenSlide(path)
    width, height = slide.index.width, slide.index.height
    rows = []
    for label, size, out in (("1:1", 512, 512), ("4:1", 2048, 512)):
        rng = random.Random(seed)
        spots = [(rng.randrange(0, width - size), rng.randrange(0, height - size))
                 for _ in range(regions)]
        began = time.perf_counter()
        for x, y in spots:
            read_region(slide, x, y, size, size, out, out)
        ours = (time.perf_counter() - began) / regions * 1000
        began = time.perf_counter()
        for x, y in spots:
            level = reference.get_best_level_for_downsample(size / out)
            scale = reference.level_downsamples[level]
            image = reference.read_region((x, y), level, (round(size / scale),) * 2)
            image = image.convert("RGB")
            if image.size != (out, out):
                image.resize((out, out), Image.LANCZOS)
        theirs = (time.perf_counter() - began) / regions * 1000
        rows.append({"scale": label, "ours_ms": round(ours, 2), "openslide_ms": round(theirs, 2),
                     "ratio": round(theirs / ours, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slide", nargs="?", help="a slide file (default: a generated one)")
    parser.add_argument("--regions", type=int, default=40)
    args = parser.parse_args(argv)
    path = args.slide or ensure_slides(QUICK_CASE, None, None, lambda *a: None)[0][0].path
    print("| scale | wsi_blueprint ms | OpenSlide read_region ms | ratio |\n|---|---|---|---|")
    for row in compare(path, args.regions):
        print(f"| {row['scale']} | {row['ours_ms']} | {row['openslide_ms']} | {row['ratio']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
