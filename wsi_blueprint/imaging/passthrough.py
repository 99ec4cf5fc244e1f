"""Native tiles as JPEG, passing stored JPEG through untouched wherever a browser can show it.

Most requests of a viewer are for stored tiles of a JPEG slide. Sending the stored stream as-is
(tables already spliced in by formats, an Adobe marker added for RGB data) costs a few
microseconds and no generation loss; decoding and encoding it again costs about 0.6 ms of CPU
and some quality. Only tiles that cannot go out as stored are decoded, in the CPU pool: edge
tiles (the stored tile is padded past the image), streams no browser decodes (lossless or
12-bit JPEG, odd component counts), tiles whose frame size disagrees with the index, other codecs
and sparse tiles.
"""

from typing import Callable

import numpy as np

from ..errors import CorruptSlide
from ..formats.tile import EncodedTile
from . import jpeg_markers
from .cpu_pool import run_cpu
from .decode import WHITE, decode
from .encode import DEFAULT_QUALITY, encode


def native_tile_jpeg(tile: EncodedTile, quality: int = DEFAULT_QUALITY,
                     background: tuple = WHITE,
                     convert: Callable[[np.ndarray], np.ndarray] | None = None) -> bytes:
    """A JPEG of the tile's valid area: the stored stream when possible, else re-encoded;
    always re-encoded with `convert` applied to its pixels (colour conversion)."""
    if convert is None and _passes_through(tile):
        if not jpeg_markers.is_complete(tile.data):
            raise CorruptSlide("a jpeg tile is truncated (no end-of-image marker)")
        if tile.photometric == "rgb":
            return jpeg_markers.with_rgb_marker(tile.data)
        return tile.data
    return run_cpu(_transcode, tile, quality, background, convert)


def _passes_through(tile: EncodedTile) -> bool:
    if tile.compression != "jpeg" or tile.sparse or tile.is_edge:
        return False
    frame = jpeg_markers.frame(tile.data)
    return frame.browser_safe and (frame.width, frame.height) == (tile.width, tile.height)


def _transcode(tile: EncodedTile, quality: int, background: tuple,
               convert: Callable[[np.ndarray], np.ndarray] | None) -> bytes:
    pixels = decode(tile, background=background)
    return encode(convert(pixels) if convert else pixels, "jpeg", quality)
