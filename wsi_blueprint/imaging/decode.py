"""Stored tile -> pixels: every codec a slide may use, always ending as 8-bit RGB.

The rest of the imaging layer (canvas, resampling, encoders) works on one pixel format only:
a C-contiguous uint8 array of shape (height, width, 3). Grey is widened to three equal channels,
alpha is dropped, 16-bit samples keep their top 8 bits (a fixed mapping, so neighbouring tiles
never disagree about brightness, as a per-tile stretch would). The result covers the tile's
valid area only: edge tiles come back cropped.

`reduce=k` returns the tile at 1/k of its size (ceil(valid / k) pixels a side). For JPEG the
power-of-two part of k is done by libjpeg-turbo while decoding (DCT scaling: 1/2, 1/4, 1/8 of the
work and memory, and a proper area filter); whatever factor remains is an area average
(Pillow `reduce`). Aligned on tile boundaries both give the same pixels as reducing a whole
canvas, so a region can be assembled from tiles already reduced.

Anything that does not decode cleanly is `CorruptSlide` (422): a tile is never replaced by a
blank one behind the caller's back. Missing (sparse) tiles are background by design. No tile is
decoded to more than its own size, nor to more than `MAX_DECODED_BYTES` (a 415): codecs
allocate what a stream or a header claims before they find the data short.
"""

import io

import imagecodecs
import numpy as np
import simplejpeg
from PIL import Image

from ..errors import CorruptSlide, UnsupportedFormat
from ..formats.tile import EncodedTile
from . import jpeg_markers

WHITE = (255, 255, 255)
MAX_DECODED_BYTES = 2 ** 27  # a slide's tiles and strips sensibly hold a few megabytes

# imagecodecs loads each codec on first use, and Pillow its plugins and helper modules (one of
# them the first time an image becomes a numpy array). That first use must not happen in a pool
# thread: under gevent the import lock is a gevent lock, and native threads importing at once
# can stall or deadlock on it. So everything loads here, at import.
_jpeg8_decode = imagecodecs.jpeg8_decode
_jpeg_header = simplejpeg.decode_jpeg_header
_jpeg_scaled_decode = simplejpeg.decode_jpeg
_jpeg2k_decode = imagecodecs.jpeg2k_decode
_webp_decode = imagecodecs.webp_decode
_jpegls_decode = imagecodecs.jpegls_decode
_packbits_decode = imagecodecs.packbits_decode
_delta_decode = imagecodecs.delta_decode
Image.preinit()

# What codecs and numpy raise for bad input; anything else is a bug and stays loud.
_DECODE_ERRORS = (RuntimeError, ValueError, OSError, SyntaxError, EOFError, IndexError,
                  Image.DecompressionBombError)


def solid(height: int, width: int, colour: tuple = WHITE) -> np.ndarray:
    """A (height, width, 3) uint8 image of one colour. `np.full` with a colour tuple fills
    three bytes at a time, a fifth of the cost of rendering a tile from four stored tiles; one
    row of the colour copied down the image takes a small fraction of that."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[...] = np.tile(np.asarray(colour, np.uint8), (1, width, 1))
    return pixels


def decode(tile: EncodedTile, reduce: int = 1, background: tuple = WHITE) -> np.ndarray:
    """The tile's valid area as (ceil(valid_height/reduce), ceil(valid_width/reduce), 3) uint8."""
    if reduce < 1:
        raise ValueError(f"reduce must be a positive integer, not {reduce}")
    height, width = -(-tile.valid_height // reduce), -(-tile.valid_width // reduce)
    if tile.sparse:
        return solid(height, width, background)
    _check_supported(tile)
    if tile.width * tile.height * max(3, tile.samples) * (1 if tile.bits <= 8 else 2) > \
            MAX_DECODED_BYTES:
        raise UnsupportedFormat(f"a tile of {tile.width}x{tile.height} pixels is larger than "
                                f"this server decodes")
    try:
        pixels, done = _DECODERS[tile.compression](tile, reduce)
    except _DECODE_ERRORS as exc:
        raise CorruptSlide(f"a {tile.compression} tile does not decode: {exc}") from None
    valid_h, valid_w = -(-tile.valid_height // done), -(-tile.valid_width // done)
    left, top = tile.source_x // done, tile.source_y // done
    if pixels.shape[0] < top + valid_h or pixels.shape[1] < left + valid_w:
        raise CorruptSlide(f"a {tile.compression} tile decodes to {pixels.shape[1]}x"
                           f"{pixels.shape[0]} pixels, fewer than its {tile.valid_width}x"
                           f"{tile.valid_height} valid area at {tile.source_x},{tile.source_y}")
    pixels = _rgb8(pixels[top:top + valid_h, left:left + valid_w], tile.bits)
    if reduce > done:
        pixels = np.asarray(Image.fromarray(pixels).reduce(reduce // done))
    return np.ascontiguousarray(pixels)


def _check_supported(tile: EncodedTile) -> None:
    if tile.compression not in _DECODERS:
        raise UnsupportedFormat(f"tiles compressed as {tile.compression!r} are not supported")
    # 12-bit samples come only out of codecs that unpack them (JPEG, JPEG 2000).
    bits = (8, 12, 16) if tile.compression in ("jpeg", "jpeg2000", "jpegls") else (8, 16)
    if tile.bits not in bits or tile.predictor not in (1, 2):
        raise UnsupportedFormat(f"{tile.compression} tiles of {tile.bits}-bit samples with "
                                f"TIFF predictor {tile.predictor} are not supported")


def _jpeg(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
    stream = jpeg_markers.with_rgb_marker(tile.data) if tile.photometric == "rgb" else tile.data
    if not jpeg_markers.is_complete(stream):
        raise CorruptSlide("a jpeg tile is truncated (no end-of-image marker)")
    # simplejpeg (libjpeg-turbo) decodes 8-bit JPEG at 1/2, 1/4, 1/8 scale in about half the
    # time of Pillow's draft mode, for the same pixels (Pillow's parsing is Python).
    # imagecodecs cannot scale, but decodes 12-bit JPEG.
    # A header claiming more pixels than the tile holds would have the codec allocate them
    # all (a few bytes can claim 65535 x 65535) before the data runs out.
    full_h, full_w = _jpeg_header(stream)[:2] if tile.bits == 8 else _jpeg_frame(stream)
    if full_w > tile.width or full_h > tile.height:
        raise CorruptSlide(f"a jpeg tile claims {full_w}x{full_h} pixels, more than the "
                           f"{tile.width}x{tile.height} it holds")
    scale = next(s for s in (8, 4, 2, 1) if reduce % s == 0) if tile.bits == 8 else 1
    if scale == 1:
        return _jpeg8_decode(stream, outcolorspace="RGB"), 1
    pixels = _jpeg_scaled_decode(stream, "RGB", min_width=-(-full_w // scale),
                                 min_height=-(-full_h // scale))
    done = next(s for s in (8, 4, 2, 1)
                if pixels.shape[:2] == (-(-full_h // s), -(-full_w // s)))
    return pixels, done


def _jpeg_frame(stream: bytes) -> tuple[int, int]:
    """(height, width) from the frame header, for precisions simplejpeg does not read."""
    found = jpeg_markers.frame(stream)
    return found.height, found.width


def _jpeg2000(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
    # One openjpeg thread per tile: tiles already decode in parallel, and openjpeg's own
    # threads cost more to start than a 256 px tile takes to decode.
    pixels = _jpeg2k_decode(tile.data, numthreads=1)
    if tile.photometric == "ycbcr" and pixels.ndim == 3 and pixels.shape[2] == 3:
        # Aperio 33003: the codestream holds YCbCr without the JPEG 2000 colour transform.
        pixels = np.asarray(Image.fromarray(_rgb8(pixels, tile.bits), "YCbCr").convert("RGB"))
    return pixels, 1


def _raw(unpack):
    """Decoder of TIFF sample data: decompress, shape as rows of pixels, undo the predictor.
    `unpack(data, out=size)` decompresses at most `size` bytes, the size the tile says it
    decodes to: a stream claiming more (a decompression bomb) or cut short fails instead of
    growing a buffer without bound."""
    def decode_raw(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
        # TIFF byte order is not part of EncodedTile yet: 16-bit data is taken as little-endian.
        dtype = np.dtype(np.uint8 if tile.bits <= 8 else "<u2")
        row_bytes = tile.width * tile.samples * dtype.itemsize
        data = unpack(tile.data, out=row_bytes * tile.height)
        rows = len(data) // row_bytes
        pixels = np.frombuffer(data, dtype, rows * tile.width * tile.samples)
        pixels = pixels.reshape(rows, tile.width, tile.samples)
        if tile.predictor == 2:
            pixels = _delta_decode(pixels, axis=1)
        return pixels, 1
    return decode_raw


def _webp(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
    return _webp_decode(tile.data), 1


def _pillow(image_format: str):
    """Decoder of whole images in a format Pillow reads (MRXS stores PNG and BMP)."""
    def decode_image(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
        with Image.open(io.BytesIO(tile.data), formats=[image_format]) as image:
            return np.asarray(image.convert("RGB")), 1
    return decode_image


def _jpegls(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
    return _jpegls_decode(tile.data), 1


def _dicom_rle(tile: EncodedTile, reduce: int) -> tuple[np.ndarray, int]:
    """DICOM RLE: a header of segment offsets, then one PackBits segment per byte of a
    sample (most significant first), each a plane of the whole frame."""
    data, pixels = tile.data, tile.width * tile.height
    count = int.from_bytes(data[:4], "little")
    depth = tile.bits // 8
    if count != tile.samples * depth or len(data) < 64:
        raise CorruptSlide(f"an RLE frame of {count} segments for {tile.samples} samples of "
                           f"{tile.bits} bits")
    ends = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "little") for i in range(count)]
    planes = []
    for start, end in zip(ends, ends[1:] + [len(data)]):
        plane = _packbits_decode(data[start:end])
        if not 64 <= start <= end or len(plane) < pixels:
            raise CorruptSlide("an RLE segment is out of place or short")
        planes.append(np.frombuffer(plane, np.uint8, pixels))
    stacked = np.stack(planes, axis=-1).reshape(tile.height, tile.width, count)
    if depth == 2:
        stacked = (stacked[..., 0::2].astype(np.uint16) << 8) | stacked[..., 1::2]
    return stacked, 1


def _rgb8(pixels: np.ndarray, bits: int) -> np.ndarray:
    if pixels.dtype == np.uint16:
        # The codec's 16-bit output holds `bits` significant bits (all 16 if the tile says 8).
        pixels = (pixels >> ((bits if bits > 8 else 16) - 8)).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise UnsupportedFormat(f"{pixels.dtype} samples are not supported")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] < 3:
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


# Each takes (tile, reduce) and returns (pixels, the factor by which they are already reduced).
_DECODERS = {
    "jpeg": _jpeg,
    "jpeg2000": _jpeg2000,
    "webp": _webp,
    "jpegls": _jpegls,
    "rle": _dicom_rle,
    "deflate": _raw(imagecodecs.zlib_decode),
    "lzw": _raw(imagecodecs.lzw_decode),
    "zstd": _raw(imagecodecs.zstd_decode),
    "none": _raw(lambda data, out: data[:out]),
    "png": _pillow("PNG"),
    "bmp": _pillow("BMP"),
}
