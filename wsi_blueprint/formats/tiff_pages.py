"""From a tifffile page (one TIFF directory) to the index's records, for every TIFF vendor.

Vendors differ in which directories are levels and what their metadata means; how one
directory stores its pixels is plain TIFF and is read here once for all of them.
"""

import math

import tifffile

from ..errors import CorruptSlide, UnsupportedFormat
from .index import Encoding, Image, IntArray, Level, Segments

# TIFF Compression tag -> the codec name EncodedTile carries.
COMPRESSIONS = {
    1: "none",
    5: "lzw",
    7: "jpeg",
    8: "deflate",
    32946: "deflate",
    33003: "jpeg2000",  # Aperio, YCbCr components without a colour transform
    33005: "jpeg2000",  # Aperio, RGB components
    34712: "jpeg2000",
    34926: "zstd",
    50000: "zstd",
    34927: "webp",
    50001: "webp",
}
_PHOTOMETRICS = {1: "minisblack", 2: "rgb", 6: "ycbcr"}
_APERIO_J2K_PHOTOMETRIC = {33003: "ycbcr", 33005: "rgb"}
_OFFSET_DTYPES = {3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}
_RESOLUTION_UNIT_UM = {2: 25400.0, 3: 10000.0}  # micrometres per inch, per centimetre
_TIFF_PROPERTIES = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software",
                    306: "DateTime", 282: "XResolution", 283: "YResolution",
                    296: "ResolutionUnit"}


def encoding_of(page: tifffile.TiffPage) -> Encoding:
    code = int(page.compression)
    if code not in COMPRESSIONS:
        raise UnsupportedFormat(f"TIFF compression {code} is not supported")
    compression = COMPRESSIONS[code]
    photometric = _APERIO_J2K_PHOTOMETRIC.get(code) or _PHOTOMETRICS.get(int(page.photometric))
    if photometric is None:
        raise UnsupportedFormat(f"TIFF photometric interpretation {int(page.photometric)} "
                                "is not supported")
    if photometric == "ycbcr" and compression not in ("jpeg", "jpeg2000"):
        raise UnsupportedFormat("YCbCr pixels are supported in JPEG and JPEG 2000 only")
    samples = int(page.samplesperpixel)
    if samples > 1 and int(page.planarconfig) != 1:
        raise UnsupportedFormat("separate colour planes (PlanarConfiguration 2) are not "
                                "supported")
    if photometric != "minisblack" and samples < 3:
        raise UnsupportedFormat(f"{photometric} with {samples} samples per pixel")
    bits = page.bitspersample
    if int(page.sampleformat) != 1 or bits not in (8, 16):
        raise UnsupportedFormat(f"{bits}-bit samples of format {int(page.sampleformat)} are "
                                "not supported (8 or 16-bit unsigned integers are)")
    return Encoding(compression, photometric, samples, bits, int(page.predictor),
                    bytes(page.jpegtables or b"") if compression == "jpeg" else b"")


def _array(page: tifffile.TiffPage, code: int) -> IntArray:
    tag = page.tags.get(code)
    if tag is None or tag.dtype not in _OFFSET_DTYPES:
        raise CorruptSlide(f"TIFF directory lacks a valid tag {code}")
    values = tag.value
    values = values if isinstance(values, (tuple, list)) or hasattr(values, "shape") else (values,)
    return IntArray.of(values, tag.valueoffset,
                       page.parent.tiff.byteorder + _OFFSET_DTYPES[int(tag.dtype)])


def segments_of(page: tifffile.TiffPage) -> Segments:
    width, height, strips = page.imagewidth, page.imagelength, not page.is_tiled
    if strips:  # a strip is a tile as wide as the image
        tile_width, tile_height, codes = width, min(page.rowsperstrip, height), (273, 279)
    else:
        tile_width, tile_height, codes = page.tilewidth, page.tilelength, (324, 325)
    if min(width, height, tile_width, tile_height) <= 0:
        raise CorruptSlide(f"TIFF image of {width}x{height} in tiles of "
                           f"{tile_width}x{tile_height}")
    segments = Segments(tile_width, tile_height, _array(page, codes[0]), _array(page, codes[1]),
                        strips)
    expected = math.ceil(width / tile_width) * math.ceil(height / tile_height)
    if segments.offsets.count != expected or segments.byte_counts.count != expected:
        raise CorruptSlide(f"a TIFF image of {width}x{height} has {segments.offsets.count} "
                           f"segments, expected {expected}")
    return segments


def image_of(page: tifffile.TiffPage) -> Image:
    return Image(page.imagewidth, page.imagelength, encoding_of(page), segments_of(page))


def as_levels(images: list[Image]) -> tuple[Level, ...]:
    """Images, largest first, as levels with their downsample from the first."""
    images = sorted(images, key=lambda image: image.width * image.height, reverse=True)
    base = images[0]
    return tuple(Level(image.width, image.height, image.encoding, image.layout,
                       (base.width / image.width + base.height / image.height) / 2)
                 for image in images)


def _format_value(value) -> str:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return repr(value[0] / value[1]) if value[1] else "0"  # a RATIONAL
    if hasattr(value, "name"):
        return value.name.lower()  # an enum such as RESUNIT.CENTIMETER
    return str(value)


def tiff_properties(page: tifffile.TiffPage) -> dict[str, str]:
    """The main descriptive tags, named as OpenSlide names them ('tiff.Make')."""
    properties = {}
    for code, name in _TIFF_PROPERTIES.items():
        value = page.tags.valueof(code)
        if value is not None and value != "":
            properties[f"tiff.{name}"] = _format_value(value)
    return properties


def resolution_mpp(page: tifffile.TiffPage) -> tuple[float, float] | None:
    """Micrometres per pixel from XResolution/YResolution, if their unit is physical."""
    unit = _RESOLUTION_UNIT_UM.get(int(page.tags.valueof(296, default=2)))
    x, y = page.tags.valueof(282), page.tags.valueof(283)
    if unit is None or not x or not y or not x[0] or not y[0] or not x[1] or not y[1]:
        return None
    return (unit * x[1] / x[0], unit * y[1] / y[0])
