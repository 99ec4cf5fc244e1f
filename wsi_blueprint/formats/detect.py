"""parse_slide: recognise a slide's format from its bytes and parse it into a SlideIndex.

The name of the object says nothing: a slide id need not have an extension, and tifffile is
kept from guessing by one (the range file it reads has no name). Whatever goes wrong inside
the parser becomes one of two answers a client can act on: UnsupportedFormat (415, not a
slide this server reads) or CorruptSlide (422, a slide whose structure is broken).

Slides made of several objects are recognised before, by formats.catalog (a DICOM instance by
`DICM` at byte 128, since it opens its whole series), and parsed by `parse_members`.
"""

import dataclasses
import logging
from typing import Callable

import tifffile

from ..caches import BlockReader
from ..errors import CorruptSlide, UnsupportedFormat, WSIError
from . import aperio, catalog, generic_tiff, leica_scn, ndpi, philips, ventana_bif
from .index import SlideIndex
from .members import Members
from .rangefile import RangeFile

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Aperio and Hamamatsu write each directory after its image's data, so a file's last blocks
# hold its last directories (and a small file's all of them).
TAIL_BLOCKS = 4

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

    remote = blocks.reader.remote  # a local file's reads cost no round trip to spare

    def parse() -> SlideIndex:
        with _open_tiff(blocks) as tiff:
            if remote:
                _fetch_subifds(tiff, blocks)
            return _parse(tiff, blocks)
    if remote:
        _fetch_tail(blocks)
    return _refusing_broken(slide_id, "TIFF", parse)


def _fetch_tail(blocks: BlockReader) -> None:
    """Fetches the file's last bytes beside the walk of its directory chain, which reads one
    directory at a time: a directory there is then found on its way or cached instead of
    costing a store round trip of its own."""
    start = max(blocks.size - TAIL_BLOCKS * blocks.block_size, 0)
    blocks.fetch_behind(blocks.indices([(start, blocks.size - start)]))


def _fetch_subifds(tiff: tifffile.TiffFile, blocks: BlockReader) -> None:
    """A pyramid whose reduced levels are SubIFDs (libvips --subifd, OME-TIFF) names them all
    in its first directory: they are fetched at once, each with its read unit as the walk
    would fetch it, instead of one store round trip after another as the walk reaches them."""
    offsets = [offset for offset in tiff.pages.first.subifds or ()
               if 0 < offset < blocks.size]
    if offsets:
        blocks.fetch_behind(blocks.indices([(offset, 1) for offset in offsets]),
                            whole_units=True)


def parse_members(blocks: BlockReader, members: Members) -> SlideIndex:
    """The index of a slide made of several objects (see formats.members), refused as
    `parse_slide` refuses."""
    return _refusing_broken(members.slide_id or members.selector, members.format.upper(),
                            lambda: catalog.parse(blocks, members))


def _refusing_broken(slide_id: str, structure: str,
                     parse: Callable[[], SlideIndex]) -> SlideIndex:
    try:
        return _with_common_properties(parse())
    except UnsupportedFormat as exc:
        raise UnsupportedFormat(f"slide {slide_id!r}: {exc.message}") from None
    except CorruptSlide as exc:
        raise CorruptSlide(f"slide {slide_id!r}: {exc.message}") from exc
    except WSIError:
        raise
    except Exception as exc:  # parsers and numpy raise many kinds on garbled structure
        # One line per refused slide; the traceback only for whoever debugs the parser.
        log.info("slide %r failed to parse: %s", slide_id, type(exc).__name__)
        log.debug("slide %r failed to parse", slide_id, exc_info=True)
        raise CorruptSlide(f"slide {slide_id!r} has a broken {structure} structure "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from exc
