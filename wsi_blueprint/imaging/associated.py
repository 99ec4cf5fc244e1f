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
    # An image whose size the index leaves open (0) is as large as its pieces reach.
    width = image.width or max(piece.x + piece.valid_width for piece in pieces)
    height = image.height or max(piece.y + piece.valid_height for piece in pieces)
    decoded = map_cpu(decode, pieces)
    return run_cpu(_paste, width, height, pieces, decoded)


def _paste(width: int, height: int, pieces, decoded) -> np.ndarray:
    canvas = solid(height, width)
    for piece, pixels in zip(pieces, decoded):
        h = min(pixels.shape[0], height - piece.y)
        w = min(pixels.shape[1], width - piece.x)
        canvas[piece.y:piece.y + h, piece.x:piece.x + w] = pixels[:h, :w]
    return canvas
