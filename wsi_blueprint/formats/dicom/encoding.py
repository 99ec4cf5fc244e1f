"""How an instance's frames are written: its transfer syntax and photometric interpretation as
the Encoding imaging decodes (and passes stored JPEG frames through by)."""

from pydicom.uid import UID

from ...caches import BlockReader
from ...errors import CorruptSlide, UnsupportedFormat
from ..index import Encoding, Frames
from ..jpeg_stream import stated_colour
from .header import Instance, required

NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
CODECS = {
    "1.2.840.10008.1.2.4.50": "jpeg",       # baseline
    "1.2.840.10008.1.2.4.51": "jpeg",       # extended (12-bit)
    "1.2.840.10008.1.2.4.57": "jpeg",       # lossless
    "1.2.840.10008.1.2.4.70": "jpeg",       # lossless, first-order prediction
    "1.2.840.10008.1.2.4.80": "jpegls",
    "1.2.840.10008.1.2.4.81": "jpegls",     # near-lossless
    "1.2.840.10008.1.2.4.90": "jpeg2000",   # lossless only
    "1.2.840.10008.1.2.4.91": "jpeg2000",
    "1.2.840.10008.1.2.4.201": "jpeg2000",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": "jpeg2000",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": "jpeg2000",  # HTJ2K
    "1.2.840.10008.1.2.5": "rle",
    **{syntax: "none" for syntax in NATIVE},
}
# JPEG 2000's own colour transforms are undone by the codec: the pixels come out RGB.
_J2K_RGB = ("RGB", "YBR_ICT", "YBR_RCT")
_JPEG_HEADER = 4096  # enough of a frame for its markers up to the start of scan


def compression_of(instance: Instance) -> str:
    syntax = instance.transfer_syntax
    if syntax not in CODECS:
        name = UID(syntax).name if UID(syntax).is_valid else syntax
        raise UnsupportedFormat(f"DICOM transfer syntax {syntax} ({name}) is not supported")
    return CODECS[syntax]


def encoding_of(blocks: BlockReader, instance: Instance, frames: Frames) -> Encoding:
    ds = instance.dataset
    compression = compression_of(instance)
    samples = int(required(ds, "SamplesPerPixel"))
    bits = int(required(ds, "BitsAllocated"))
    interpretation = str(required(ds, "PhotometricInterpretation")).upper()
    if int(ds.get("PixelRepresentation") or 0) != 0 or bits not in (8, 16):
        raise UnsupportedFormat(f"{bits}-bit samples of pixel representation "
                                f"{ds.get('PixelRepresentation')} (8 or 16-bit unsigned are "
                                "supported)")
    if samples == 3 and compression == "none" and int(ds.get("PlanarConfiguration") or 0):
        raise UnsupportedFormat("native pixel data in separate colour planes")
    if (samples, interpretation) == (1, "MONOCHROME2"):
        photometric = "minisblack"
    elif samples == 3 and interpretation == "RGB":
        photometric = "rgb"
    elif samples == 3 and compression == "jpeg2000" and interpretation in _J2K_RGB:
        photometric = "rgb"
    elif samples == 3 and compression in ("jpeg", "jpeg2000") and \
            interpretation.startswith("YBR_FULL"):
        photometric = "ycbcr"
    else:
        raise UnsupportedFormat(f"DICOM photometric interpretation {interpretation} with "
                                f"{samples} samples per pixel in {compression} is not supported")
    if compression == "jpeg" and samples == 3:
        photometric = _jpeg_colour(blocks, frames) or photometric
    if compression == "jpeg":
        bits = int(ds.get("BitsStored") or bits)
    return Encoding(compression, photometric, samples, bits)


def _jpeg_colour(blocks: BlockReader, frames: Frames) -> str | None:
    """What the first frame's stream says its samples are. Writers label JFIF (YCbCr) frames
    RGB; decoders, browsers included, follow the stream's markers."""
    first = frames.base + 8  # every offset table starts at 0: the first frame's first item
    header = blocks.read(first, min(_JPEG_HEADER, blocks.size - first))
    try:
        return stated_colour(header)
    except CorruptSlide:
        return None
