"""Hamamatsu NDPI: a TIFF-like file whose every pyramid level is a single JPEG stream.

Each level directory carries its magnification (tag 65421: the objective power, -1 for the
macro, -2 for the map) and, for big levels, McuStarts (65426, with bits above 32 in 65432):
where each restart interval of the stream starts. Those intervals decode independently, so a
block of them is served as a virtual tile without ever reading the whole level. Small levels
are served whole, as one tile.
"""

import math

import tifffile

from ..caches import BlockReader
from ..errors import CorruptSlide, UnsupportedFormat
from . import icc
from .index import (Encoding, Image, IntArray, RestartIntervals, Segments, SlideIndex,
                    read_entries)
from .jpeg_stream import frame_of
from .tiff_pages import (as_levels, encoding_of, image_of, resolution_mpp,
                         tiff_properties)

_MAGNIFICATION = 65421
_X_OFFSET, _Y_OFFSET, _Z_OFFSET = 65422, 65423, 65424
_MCU_STARTS, _MCU_STARTS_HIGH = 65426, 65432
_PROPERTY_MAP = 65449
_MACRO = -1.0

# Levels up to this many pixels are served as one tile: one read, one decode.
WHOLE_LEVEL_PIXELS = 1024 * 1024
# Virtual tiles group restart intervals until they are about this many pixels across and down.
TILE_TARGET = 256
_MAX_HEADER = 64 * 1024  # SOI to SOS with all tables is about a kilobyte


def is_ndpi(page: tifffile.TiffPage) -> bool:
    return page.is_ndpi


def _stream(page: tifffile.TiffPage) -> tuple[int, int]:
    offsets, counts = page.tags.valueof(273), page.tags.valueof(279)
    if not offsets or not counts or len(offsets) != 1 or len(counts) != 1:
        raise UnsupportedFormat("an NDPI level that is not a single JPEG stream")
    return int(offsets[0]), int(counts[0])


def _whole(page: tifffile.TiffPage, encoding: Encoding, offset: int, length: int) -> Image:
    width, height = page.imagewidth, page.imagelength
    return Image(width, height, encoding,
                 Segments(width, height, IntArray(1, (offset,)), IntArray(1, (length,)),
                          strips=True))


def _starts(page: tifffile.TiffPage, code: int) -> IntArray | None:
    tag = page.tags.get(code)
    if tag is None:
        return None
    return IntArray.of(tag.value, tag.valueoffset, page.parent.tiff.byteorder + "u4")


def _level(page: tifffile.TiffPage, blocks: BlockReader) -> Image:
    encoding = encoding_of(page)
    if encoding.compression != "jpeg":
        raise UnsupportedFormat(f"an NDPI level compressed as {encoding.compression}")
    offset, length = _stream(page)
    width, height = page.imagewidth, page.imagelength
    starts = _starts(page, _MCU_STARTS)
    if width * height <= WHOLE_LEVEL_PIXELS:
        return _whole(page, encoding, offset, length)
    if starts is None:
        raise UnsupportedFormat("an NDPI level too large to read whole has no McuStarts")
    header_length = read_entries(blocks, [starts], [0])[0][0]
    if not 0 < header_length <= min(length, _MAX_HEADER):
        raise CorruptSlide(f"NDPI JPEG header of {header_length} bytes")
    header = blocks.read(offset, header_length)
    frame = frame_of(header)
    mcus_across = math.ceil(width / frame.mcu_width)
    mcu_rows = math.ceil(height / frame.mcu_height)
    interval = frame.restart_interval
    if not interval:
        raise UnsupportedFormat("an NDPI level too large to read whole has no restart markers")
    if mcus_across % interval == 0:  # intervals split each MCU row
        size = (interval * frame.mcu_width, frame.mcu_height)
        grid = (mcus_across // interval, mcu_rows)
    elif interval % mcus_across == 0:  # each interval is whole MCU rows
        rows = interval // mcus_across
        size = (mcus_across * frame.mcu_width, rows * frame.mcu_height)
        grid = (1, math.ceil(mcu_rows / rows))
    else:
        raise UnsupportedFormat(f"NDPI restart interval of {interval} MCUs does not tile rows "
                                f"of {mcus_across} MCUs")
    if grid[0] * grid[1] != starts.count:
        raise CorruptSlide(f"NDPI level has {starts.count} McuStarts, expected "
                           f"{grid[0] * grid[1]}")
    layout = RestartIntervals(
        stream_offset=offset, stream_length=length, header=header, starts=starts,
        starts_high=_starts(page, _MCU_STARTS_HIGH),
        interval_width=size[0], interval_height=size[1],
        intervals_per_row=grid[0], interval_rows=grid[1],
        tile_columns=min(grid[0], max(1, round(TILE_TARGET / size[0]))),
        tile_rows=min(grid[1], max(1, round(TILE_TARGET / size[1]))))
    return Image(width, height, encoding, layout)


def _properties(page: tifffile.TiffPage) -> dict[str, str]:
    properties = tiff_properties(page)
    for line in str(page.tags.valueof(_PROPERTY_MAP, default="")).splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            properties[f"hamamatsu.{key.strip()}"] = value.strip()
    for code, name in ((_MAGNIFICATION, "SourceLens"), (_X_OFFSET, "XOffsetFromSlideCentre"),
                       (_Y_OFFSET, "YOffsetFromSlideCentre")):
        value = page.tags.valueof(code)
        if value is not None:
            properties[f"hamamatsu.{name}"] = f"{value:g}"
    return properties


def parse(tiff: tifffile.TiffFile, blocks: BlockReader) -> SlideIndex:
    pages = list(tiff.pages)
    pyramid = [page for page in pages
               if page.tags.valueof(_MAGNIFICATION, default=0) > 0
               and not page.tags.valueof(_Z_OFFSET, default=0)]
    if not pyramid:
        raise UnsupportedFormat("an NDPI file without pyramid levels")
    first = max(pyramid, key=lambda page: page.imagewidth)
    associated = {}
    macro = next((page for page in pages
                  if page.tags.valueof(_MAGNIFICATION) == _MACRO), None)
    if macro is not None:
        try:
            associated["macro"] = image_of(macro)
        except UnsupportedFormat:
            pass  # an extra the viewer can do without; the slide still opens
    return SlideIndex(
        format="hamamatsu",
        levels=as_levels([_level(page, blocks) for page in pyramid]),
        mpp=resolution_mpp(first),
        objective_power=float(first.tags.valueof(_MAGNIFICATION)),
        properties=_properties(first),
        associated=associated,
        icc_profile=icc.locate(first),
        associated_icc=icc.locate_each({"macro": macro} if "macro" in associated else {}),
    )
