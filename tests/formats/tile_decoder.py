"""A reference decoder for tests: EncodedTile -> pixels, with imagecodecs.

The formats layer returns bytes; these tests need pixels to compare with OpenSlide and with
the synthetic sources, so they decode here, the way the imaging layer is expected to.
"""

import imagecodecs
import numpy

from wsi_blueprint.formats import EncodedTile

_RAW = {
    "none": bytes,
    "deflate": imagecodecs.zlib_decode,
    "lzw": imagecodecs.lzw_decode,
    "zstd": imagecodecs.zstd_decode,
}


def ycbcr_to_rgb(ycc: numpy.ndarray) -> numpy.ndarray:
    """Full-range (JFIF) YCbCr to RGB, as Aperio's 33003 JPEG 2000 needs after decoding."""
    y, cb, cr = (ycc[..., i].astype(numpy.float64) for i in range(3))
    rgb = numpy.stack([y + 1.402 * (cr - 128),
                       y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                       y + 1.772 * (cb - 128)], axis=-1)
    return numpy.clip(numpy.rint(rgb), 0, 255).astype(numpy.uint8)


def rgb_to_ycbcr(rgb: numpy.ndarray) -> numpy.ndarray:
    r, g, b = (rgb[..., i].astype(numpy.float64) for i in range(3))
    ycc = numpy.stack([0.299 * r + 0.587 * g + 0.114 * b,
                       128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                       128 + 0.5 * r - 0.418688 * g - 0.081312 * b], axis=-1)
    return numpy.clip(numpy.rint(ycc), 0, 255).astype(numpy.uint8)


def decode(tile: EncodedTile) -> numpy.ndarray:
    """The tile's valid pixels, height x width x samples."""
    if tile.compression == "jpeg":
        # Stored RGB carries no marker saying so (Aperio): tell the decoder.
        colorspace = imagecodecs.JPEG8.CS.RGB if tile.photometric == "rgb" else None
        pixels = imagecodecs.jpeg8_decode(tile.data, colorspace=colorspace)
    elif tile.compression == "jpeg2000":
        pixels = imagecodecs.jpeg2k_decode(tile.data)
        if tile.photometric == "ycbcr":
            pixels = ycbcr_to_rgb(pixels)
    elif tile.compression == "webp":
        pixels = imagecodecs.webp_decode(tile.data)
    else:
        dtype = numpy.dtype(f"u{tile.bits // 8}")
        raw = _RAW[tile.compression](tile.data)
        pixels = numpy.frombuffer(raw, dtype)[:tile.width * tile.height * tile.samples]
        pixels = pixels.reshape(tile.height, tile.width, tile.samples)
        if tile.predictor == 2:
            pixels = numpy.cumsum(pixels, axis=1, dtype=dtype)
    if pixels.ndim == 2:
        pixels = pixels[..., numpy.newaxis]
    assert pixels.shape[:2] == (tile.height, tile.width), (pixels.shape, tile)
    return pixels[:tile.valid_height, :tile.valid_width]


def assemble(tiles: list[EncodedTile], width: int, height: int) -> numpy.ndarray:
    """Pieces placed at their x, y into one image (an associated image, a region); sparse
    tiles stay zero."""
    stored = [tile for tile in tiles if not tile.sparse]
    first = decode(stored[0])
    out = numpy.zeros((height, width, first.shape[2]), first.dtype)
    for tile in stored:
        pixels = decode(tile)
        out[tile.y:tile.y + pixels.shape[0], tile.x:tile.x + pixels.shape[1]] = pixels
    return out
