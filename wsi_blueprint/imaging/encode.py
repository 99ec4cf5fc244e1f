"""Pixels -> bytes a browser shows: JPEG, PNG or WebP.

imagecodecs calls the codec libraries directly, faster than Pillow for JPEG and PNG alike.
WebP is lossy with libwebp method 2: about half the time of the default method 4 for files
barely larger. PNG uses zlib level 6: on flat images (labels, backgrounds) it halves the size of
level 1 for a little more time, and finished tiles are cached by size in bytes. Timings:
docs/design/imaging.md.
"""

import imagecodecs
import numpy as np

from ..errors import BadRequest, TooLarge

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_ALIASES = {"jpg": "jpeg"}
_MAX_SIDE = {"jpeg": 65500, "png": 2 ** 31 - 1, "webp": 16383}
DEFAULT_QUALITY = 80
PNG_LEVEL = 6
WEBP_METHOD = 2

# Bound at import: imagecodecs loads a codec on first use, which must not happen in a pool
# thread under gevent (see decode.py).
_jpeg8_encode = imagecodecs.jpeg8_encode
_png_encode = imagecodecs.png_encode
_webp_encode = imagecodecs.webp_encode


def output_format(name: str) -> str:
    """The canonical name of an output format ('jpg' -> 'jpeg'); 400 for unknown ones."""
    fmt = _ALIASES.get(name.lower(), name.lower())
    if fmt not in CONTENT_TYPES:
        raise BadRequest(f"output format {name!r} is not supported; use jpg, png or webp")
    return fmt


def content_type(fmt: str) -> str:
    return CONTENT_TYPES[output_format(fmt)]


def encode(pixels: np.ndarray, fmt: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode uint8 pixels, (h, w, 3) RGB or (h, w) grey; `quality` (1-100) is for lossy formats."""
    fmt = output_format(fmt)
    height, width = pixels.shape[:2]
    if max(height, width) > _MAX_SIDE[fmt]:
        raise TooLarge(f"{width}x{height} pixels do not fit in one {fmt} image "
                       f"(at most {_MAX_SIDE[fmt]} a side)")
    if fmt == "jpeg":
        return _jpeg8_encode(pixels, quality)
    if fmt == "png":
        return _png_encode(pixels, level=PNG_LEVEL)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)  # libwebp encodes RGB(A) only
    return _webp_encode(pixels, quality, lossless=False, method=WEBP_METHOD)
