"""A synthetic demo slide, so that `wsi-blueprint serve` on an empty folder shows something.

It is a generic tiled pyramidal TIFF (JPEG tiles, levels at 1, 1/4 and 1/16) painted with a
tissue-like pattern in H&E colours, with a resolution of SAMPLE_MPP so the viewer's scale bar
shows; made in about a second, never committed.
"""

import numpy as np
import tifffile

SAMPLE_NAME = "sample-he.tiff"
SAMPLE_MPP = 0.25  # micrometres per pixel at full resolution, a 40x scan: the scale bar shows


def _tissue(width: int, height: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    # A smooth blob of "tissue" on a white slide, with wavy stroma and scattered nuclei.
    cx, cy = width * 0.5, height * 0.5
    r = np.hypot((x - cx) / (width * 0.42), (y - cy) / (height * 0.40))
    wobble = 0.08 * np.sin(x / 97.0) * np.cos(y / 83.0)
    inside = np.clip((1.0 - r + wobble) * 8, 0, 1)
    stroma = 0.5 + 0.5 * np.sin(x / 23.0 + 3 * np.sin(y / 57.0))
    image = np.empty((height, width, 3), np.float32)
    image[...] = (245, 243, 246)
    pink = np.array([232, 160, 196], np.float32) * (0.85 + 0.15 * stroma[..., None])
    image = image * (1 - inside[..., None]) + pink * inside[..., None]
    for _ in range(width * height // 2500):
        nx, ny = rng.integers(0, width), rng.integers(0, height)
        if inside[ny, nx] < 0.5:
            continue
        radius = rng.integers(4, 9)
        y0, y1, x0, x1 = max(ny - radius, 0), ny + radius, max(nx - radius, 0), nx + radius
        yy, xx = np.mgrid[y0:min(y1, height), x0:min(x1, width)]
        disk = (yy - ny) ** 2 + (xx - nx) ** 2 <= radius ** 2
        image[yy[disk], xx[disk]] = (96, 56, 140)
    return image.astype(np.uint8)


def write_sample(path: str, width: int = 4096, height: int = 3072) -> str:
    level0 = _tissue(width, height)
    with tifffile.TiffWriter(path) as tiff:
        for factor in (1, 4, 16):
            pixels = level0[::factor, ::factor] if factor > 1 else level0
            pixels_per_cm = 10_000 / (SAMPLE_MPP * factor)
            tiff.write(pixels, tile=(256, 256), compression="jpeg", compressionargs={"level": 85},
                       photometric="rgb", subfiletype=0 if factor == 1 else 1,
                       resolution=(pixels_per_cm, pixels_per_cm), resolutionunit="CENTIMETER")
    return path
