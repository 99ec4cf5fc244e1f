"""The CPU tail of a region: mirror, rotate, colour mode, encode (one pool job with the rest)."""

import numpy as np

from .encode import encode

GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma


def orient_and_encode(pixels: np.ndarray, rotation: int, mirror: bool, mode: str, fmt: str,
                      quality: int) -> bytes:
    """Mirror, rotate clockwise by `rotation`, apply the colour mode and encode."""
    if mirror:
        pixels = pixels[:, ::-1]
    if rotation:
        pixels = np.rot90(pixels, k=-rotation // 90)
    if mode in ("gray", "bitonal"):
        gray = pixels[..., :3] @ GRAY_WEIGHTS
        pixels = np.where(gray > 127, 255, 0) if mode == "bitonal" else gray.round()
        pixels = pixels.astype(np.uint8)
    return encode(np.ascontiguousarray(pixels), fmt, quality)
