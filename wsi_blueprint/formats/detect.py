"""parse_slide: recognise a slide's format from its bytes and parse it into a SlideIndex.

The name of the object says nothing: a slide id need not have an extension, and tifffile is
kept from guessing by one (the range file it reads has no name). Whatever goes wrong inside
the parser becomes one of two answers a client can act on: UnsupportedFormat (415, not a
slide this server reads) or CorruptSlide (422, a slide whose structure is broken).
"""

import dataclasses
import logging

import tifffile

from ..caches import BlockReader
from ..errors import CorruptSlide, UnsupportedFormat, WSIError
from . import aperio, generic_tiff, leica_scn, ndpi, philips, ventana_bif
from .index import SlideIndex
from .rangefile import RangeFile

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

log = logging.getLogger(__name__)


def _open_tiff(blocks: BlockReader) -> tifffile.TiffFile:
    """Parsed as classic TIFF first; NDPI (recognised by its tags) is opened again with its
    64-bit extension of classic offsets. The second parse reads from the block cache."""
    tiff = tifffile.TiffFile(RangeFile(blocks), is_ndpi=False)
    if len(tiff.pages) and ndpi.is_ndpi(tiff.pages.first):
        tiff.close()
        tiff = tifffile.TiffFile(RangeFile(blocks), is_ndpi=True)
    tiff.pages.cache = True
    return tiff


def _parse(tiff: tifffile.TiffFile, blocks: BlockReader) -> SlideIndex:
    if not len(tiff.pages):
        raise CorruptSlide("the TIFF file holds no image")
    first = tiff.pages.first
    if ndpi.is_ndpi(first):
        return ndpi.parse(tiff, blocks)
    if aperio.is_aperio(first):
        return aperio.parse(tiff)
    if philips.is_philips(first):
        return philips.parse(tiff)
    if leica_scn.is_leica(first):
        return leica_scn.parse(tiff)
    if ventana_bif.is_ventana(first):
        return ventana_bif.parse(tiff)
    return generic_tiff.parse(tiff)


def _with_common_properties(index: SlideIndex) -> SlideIndex:
    """The vendor-neutral properties OpenSlide users look for, derived from the index."""
    common = {"openslide.vendor": index.format, "openslide.level-count": str(len(index.levels))}
    if index.mpp:
        common["openslide.mpp-x"], common["openslide.mpp-y"] = (repr(v) for v in index.mpp)
    if index.objective_power:
        common["openslide.objective-power"] = f"{index.objective_power:g}"
    return dataclasses.replace(index, properties={**index.properties, **common})


def parse_slide(blocks: BlockReader, slide_id: str) -> SlideIndex:
    """The index of the slide whose bytes `blocks` reads; raises UnsupportedFormat or
    CorruptSlide (with `slide_id` in the message) for anything else, and store errors as
    they come."""
    magic = blocks.read(0, min(4, blocks.size))
    if magic not in _TIFF_MAGIC:
        raise UnsupportedFormat(f"slide {slide_id!r} is not in a supported format "
                                "(not a TIFF file)")
    try:
        with _open_tiff(blocks) as tiff:
            return _with_common_properties(_parse(tiff, blocks))
    except UnsupportedFormat as exc:
        raise UnsupportedFormat(f"slide {slide_id!r}: {exc.message}") from None
    except CorruptSlide as exc:
        raise CorruptSlide(f"slide {slide_id!r}: {exc.message}") from exc
    except WSIError:
        raise
    except Exception as exc:  # tifffile and numpy raise many kinds on garbled structure
        # One line per refused slide; the traceback only for whoever debugs the parser.
        log.info("slide %r failed to parse: %s", slide_id, type(exc).__name__)
        log.debug("slide %r failed to parse", slide_id, exc_info=True)
        raise CorruptSlide(f"slide {slide_id!r} has a broken TIFF structure "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from exc
