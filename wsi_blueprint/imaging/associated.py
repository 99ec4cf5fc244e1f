"""Associated images (label, macro, thumbnail) as pixels, assembled from their stored pieces.

Scanners store them as strips or tiles of their own; formats hands each piece with its place.
"""

import numpy as np

from .cpu_pool import map_cpu, run_cpu
from .decode import decode, solid


def read_associated(slide, name: str) -> np.ndarray:
    """The whole associated image `name` as (h, w, 3) uint8 RGB."""
    image = slide.index.associated[name]
    pieces = slide.read_associated(name)
    decoded = map_cpu(decode, pieces)
    return run_cpu(_paste, image.width, image.height, pieces, decoded)


def _paste(width: int, height: int, pieces, decoded) -> np.ndarray:
    canvas = solid(height, width)
    for piece, pixels in zip(pieces, decoded):
        h = min(pixels.shape[0], height - piece.y)
        w = min(pixels.shape[1], width - piece.x)
        canvas[piece.y:piece.y + h, piece.x:piece.x + w] = pixels[:h, :w]
    return canvas
