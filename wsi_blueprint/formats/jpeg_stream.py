"""JPEG streams assembled at the marker level, without decoding a pixel.

TIFF stores JPEG tiles as abbreviated streams whose tables live once in the JPEGTables tag;
a decoder (or a browser) needs them back in each stream. NDPI stores a whole level as one
stream cut by restart markers; a tile is rebuilt as a small stream of its own from the level's
header (with new dimensions) and the restart intervals that cover it.
"""

import dataclasses
import struct
from typing import Iterator

from ..errors import CorruptSlide

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_SOS = 0xDA
_DRI = 0xDD
_RST0, _RST7 = 0xD0, 0xD7
# Start-of-frame markers: every 0xC0-0xCF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def with_tables(tables: bytes, stream: bytes) -> bytes:
    """An abbreviated stream made complete: the tables' segments go right after its SOI."""
    if not stream.startswith(SOI):
        raise CorruptSlide("a JPEG tile does not start with an SOI marker")
    if not tables.startswith(SOI):
        raise CorruptSlide("the JPEGTables tag does not start with an SOI marker")
    body = tables[2:-2] if tables.endswith(EOI) else tables[2:]
    return SOI + body + stream[2:]


def _segments(header: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each marker segment from SOI through SOS; `start` is the
    position of the 0xFF, `end` one past the segment."""
    if not header.startswith(SOI):
        raise CorruptSlide("a JPEG header does not start with an SOI marker")
    position = 2
    while True:
        if position + 4 > len(header) or header[position] != 0xFF:
            raise CorruptSlide("a JPEG header ends before its start of scan")
        marker = header[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = struct.unpack(">H", header[position + 2:position + 4])[0]
        end = position + 2 + length
        if length < 2 or end > len(header):
            raise CorruptSlide("a JPEG marker segment runs past the header")
        yield marker, position, end
        if marker == _SOS:
            return
        position = end


@dataclasses.dataclass(frozen=True)
class Frame:
    """What a JPEG header says about the geometry of its entropy-coded data."""

    width: int
    height: int
    mcu_width: int
    mcu_height: int
    restart_interval: int  # MCUs between restart markers, 0 if none


def frame_of(header: bytes) -> Frame:
    frame, restart_interval = None, 0
    for marker, start, end in _segments(header):
        if marker in _SOF:
            height, width, ncomponents = struct.unpack(">HHB", header[start + 5:start + 10])
            factors = header[start + 10:end]
            if len(factors) < 3 * ncomponents or ncomponents == 0:
                raise CorruptSlide("a JPEG frame header is truncated")
            h = max(factors[3 * i + 1] >> 4 for i in range(ncomponents))
            v = max(factors[3 * i + 1] & 15 for i in range(ncomponents))
            if not h or not v:
                raise CorruptSlide("a JPEG frame header has zero sampling factors")
            frame = (width, height, 8 * h, 8 * v)
        elif marker == _DRI and end - start >= 6:
            restart_interval = struct.unpack(">H", header[start + 4:start + 6])[0]
    if frame is None:
        raise CorruptSlide("a JPEG header has no frame (SOF) marker")
    return Frame(*frame, restart_interval)


def with_dimensions(header: bytes, width: int, height: int) -> bytes:
    """The header (SOI through SOS) with its frame resized to width x height."""
    for marker, start, _ in _segments(header):
        if marker in _SOF:
            return (header[:start + 5] + struct.pack(">HH", height, width)
                    + header[start + 9:])
    raise CorruptSlide("a JPEG header has no frame (SOF) marker")


def entropy_data(interval: bytes) -> bytes:
    """A restart interval's entropy-coded bytes without the RSTn or EOI marker ending it."""
    if len(interval) >= 2 and interval[-2] == 0xFF and (
            _RST0 <= interval[-1] <= _RST7 or interval[-1] == EOI[1]):
        return interval[:-2]
    return interval


def join_intervals(header: bytes, intervals: list[bytes]) -> bytes:
    """A complete stream: header, the intervals' entropy data with restart markers numbered
    afresh from RST0 (a decoder checks their sequence), EOI."""
    parts = [header]
    for number, interval in enumerate(intervals):
        if number:
            parts.append(bytes((0xFF, _RST0 + (number - 1) % 8)))
        parts.append(entropy_data(interval))
    parts.append(EOI)
    return b"".join(parts)


def stated_colour(header: bytes) -> str | None:
    """'ycbcr' or 'rgb' where the stream says which its samples are (a JFIF APP0 marker, an
    Adobe APP14 transform), None where it does not."""
    for marker, start, end in _segments(header):
        payload = header[start + 4:end]
        if marker == 0xE0 and payload.startswith(b"JFIF\0"):
            return "ycbcr"
        if marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
            return "rgb" if payload[11] == 0 else "ycbcr"
    return None
