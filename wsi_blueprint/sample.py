"""A synthetic demo slide, so that `wsi-blueprint serve` on an empty folder shows something.

It is a generic tiled pyramidal TIFF (JPEG tiles, levels at 1, 1/4 and 1/16) painted with a
tissue-like pattern in H&E colours, with a resolution of SAMPLE_MPP so the viewer's scale bar
shows; made in about a second, never committed.
"""

import numpy as np
import tifffile

SAMPLE_NAME = "sample-he.tiff"
SAMPLE_MPP = 0.25  # micrometres per pixel at full resolution, a 40x scan: the scale bar shows


NUCLEUS = (96, 56, 140)
BAND = 256  # rows painted at a time: the float work stays a few megabytes


def _inside(x: np.ndarray, y: np.ndarray, width: int, height: int) -> np.ndarray:
    """How far each point (x, y broadcast together) is inside the tissue blob, from 0 (glass)
    to 1, with a wavy edge."""
    r = np.hypot((x - width * 0.5) / (width * 0.42), (y - height * 0.5) / (height * 0.40))
    wobble = 0.08 * np.sin(x / 97.0) * np.cos(y / 83.0)
    return np.clip((1.0 - r + wobble) * 8, 0, 1)


def _tissue(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A smooth blob of tissue on a white slide, with wavy stroma and scattered nuclei."""
    x = np.arange(width, dtype=np.float32)
    glass = np.array([245, 243, 246], np.float32)
    pink = np.array([232, 160, 196], np.float32)
    image = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, BAND):
        y = np.arange(top, min(top + BAND, height), dtype=np.float32)[:, None]
        inside = _inside(x, y, width, height)[..., None]
        stroma = 0.5 + 0.5 * np.sin(x / 23.0 + 3 * np.sin(y / 57.0))
        shade = pink * (0.85 + 0.15 * stroma[..., None])
        image[top:top + len(y)] = glass * (1 - inside) + shade * inside
    # Nuclei: one try per 2,500 pixels, kept where the point is well inside the tissue, each a
    # disk of 4-8 pixels' radius; drawn one by one (cheap), painted a radius at a time.
    rng = np.random.default_rng(seed)
    nuclei: dict[int, list[tuple[int, int]]] = {}
    for _ in range(width * height // 2500):
        nx, ny = rng.integers(0, width), rng.integers(0, height)
        if _inside(np.float32(nx), np.float32(ny), width, height) >= 0.5:
            nuclei.setdefault(int(rng.integers(4, 9)), []).append((ny, nx))
    for radius, centres in nuclei.items():
        dy, dx = np.mgrid[-radius:radius, -radius:radius]
        disk = dy ** 2 + dx ** 2 <= radius ** 2
        ny, nx = np.array(centres).T
        ys, xs = (ny[:, None] + dy[disk]).ravel(), (nx[:, None] + dx[disk]).ravel()
        on = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        image[ys[on], xs[on]] = NUCLEUS
    return image


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
