"""Resizing RGB pixels to an output size: cheap integer steps first, one good filter last.

Lanczos costs about ten times what `Image.reduce` (area average over n x n blocks) does for
the same halving, so the whole integer part of a downscale is done by `reduce` and Lanczos only
covers what remains (less than 2x); exact factors (the usual step between pyramid levels) never
run a convolution at all. Area averaging is the right filter for integer downscales; the
Lanczos step keeps fractional ones and upscales sharp. Timings: docs/design/imaging.md.

A box that differs from the output size only by rounding (a level whose downsample is 4.001,
not 4) is cropped, not resampled: a shift under half a pixel beats blurring every native pixel.
"""

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]


def resize(pixels: np.ndarray, size: tuple[int, int], box: Box | None = None) -> np.ndarray:
    """The `box` (left, top, right, bottom; fractions allowed) of pixels, resized to (w, h)."""
    height, width = pixels.shape[:2]
    box = box or (0, 0, width, height)
    left, top, right, bottom = (round(v) for v in box)
    if (right - left, bottom - top) == tuple(size):
        return pixels[top:bottom, left:right]
    image = Image.fromarray(pixels).resize(tuple(size), Image.Resampling.LANCZOS, box=box,
                                           reducing_gap=1.0)
    return np.asarray(image)
