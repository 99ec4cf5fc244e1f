"""Per-tile costs of the imaging layer on this machine: `python tests/imaging/bench_imaging.py`.

A measurement to read, not a test: nothing here asserts a time. Uses the shared test slides.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from helpers import TESTDATA  # noqa: E402
from imaging.support import real_slide, tile_at  # noqa: E402
from wsi_blueprint.imaging import cpu_pool  # noqa: E402
from wsi_blueprint.imaging.decode import decode  # noqa: E402
from wsi_blueprint.imaging.encode import encode  # noqa: E402
from wsi_blueprint.imaging.passthrough import _transcode, native_tile_jpeg  # noqa: E402
from wsi_blueprint.imaging.region import read_region, thumbnail  # noqa: E402
from wsi_blueprint.imaging.resample import resize  # noqa: E402


def per_call_ms(fn, *args, repeat: int = 200) -> float:
    fn(*args)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1000


def show(label: str, ms: float) -> None:
    print(f"  {label:<52} {ms:8.3f} ms")


def main() -> None:
    cmu = os.path.join(TESTDATA, "CMU-1-Small-Region.svs")
    j2k = os.path.join(TESTDATA, "TCGA-CR-7395-J2K-33005.svs")
    jpeg_tile, edge_tile = tile_at(cmu, 23), tile_at(cmu, 9)
    j2k_tile = tile_at(j2k, 40)

    print("native tiles (240 px Aperio RGB JPEG)")
    show("passthrough (stored stream + APP14)", per_call_ms(native_tile_jpeg, jpeg_tile))
    show("decode + encode q80, inline", per_call_ms(_transcode, jpeg_tile, 80, (255,) * 3))
    show("decode + encode q80, via the CPU pool", per_call_ms(native_tile_jpeg, edge_tile))
    show("CPU pool round trip of a no-op", per_call_ms(cpu_pool.run_cpu, int))

    print("decode")
    for k in (1, 2, 4, 8):
        show(f"JPEG 240 px, reduce={k}", per_call_ms(decode, jpeg_tile, k))
    show("JPEG 240 px decode, then Image.reduce(4)",
         per_call_ms(lambda t: Image.fromarray(decode(t)).reduce(4), jpeg_tile))
    show("JPEG 2000 (33005) 256 px", per_call_ms(decode, j2k_tile, repeat=50))

    print("encode 256 px tissue")
    pixels = np.ascontiguousarray(np.tile(decode(jpeg_tile), (3, 3, 1))[:512, :512])
    tile256 = np.ascontiguousarray(pixels[:256, :256])
    for fmt in ("jpeg", "png", "webp"):
        show(fmt, per_call_ms(encode, tile256, fmt, repeat=50))

    print("resample")
    big = np.ascontiguousarray(np.tile(pixels, (2, 2, 1)))
    lanczos = Image.Resampling.LANCZOS
    for src, dst in ((512, 256), (1024, 256), (700, 256), (512, 300)):
        part = np.ascontiguousarray(big[:src, :src])
        image = Image.fromarray(part)
        show(f"{src}->{dst} plain Lanczos", per_call_ms(image.resize, (dst, dst), lanczos,
                                                        repeat=30))
        show(f"{src}->{dst} resize() (reduce, then Lanczos)", per_call_ms(resize, part,
                                                                         (dst, dst), repeat=30))

    print("regions (256 px outputs, through the formats Slide and the pool)")
    slide = real_slide(cmu)
    show("native level, tile aligned", per_call_ms(read_region, slide, 480, 480, 256, 256,
                                                   256, 256, repeat=30))
    show("1024 -> 256 (DCT 1/4 per tile)", per_call_ms(read_region, slide, 480, 480, 1024,
                                                       1024, 256, 256, repeat=30))
    show("1024 -> 300 (reduce 3 per tile, Lanczos rest)",
         per_call_ms(read_region, slide, 480, 480, 1024, 1024, 300, 300, repeat=30))
    show("thumbnail 512 of the 2220x2967 single level", per_call_ms(thumbnail, slide, 512,
                                                                    repeat=10))


if __name__ == "__main__":
    main()
