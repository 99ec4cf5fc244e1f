"""Reading and fixing the header of a JPEG stream without decoding it.

Aperio (and other TIFF writers) store JPEG tiles whose samples are RGB, not YCbCr, saying so
only in the TIFF Photometric tag. The stream itself has no Adobe APP14 marker and component
ids 0, 1, 2, so every decoder, browsers included, assumes YCbCr and shows false colours. An
APP14 marker with transform 0 declares the samples RGB to every decoder. A JFIF APP0 marker
claims YCbCr and wins over APP14 in libjpeg-turbo (Chrome, Firefox), so it is dropped from
RGB streams rather than kept in front of the new marker.
"""

import dataclasses
from typing import Iterator, NamedTuple

from ..errors import CorruptSlide

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_SOS = 0xDA
_APP0 = 0xE0
_APP14 = 0xEE
# "Adobe", version 100, flags 0 and 0, transform 0 (no colour transform: RGB as stored).
ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_BROWSER_SOF = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman
_COLOUR_MARKERS = frozenset((_APP0, _APP14))  # JFIF and Adobe: what says YCbCr or RGB


class Segment(NamedTuple):
    """One marker segment. A named tuple: it is made in half the time of a frozen dataclass,
    and every RGB tile decoded or passed through has its header parsed."""

    marker: int
    start: int    # offset of the 0xFF of the marker
    end: int      # offset just past the segment
    payload: bytes


@dataclasses.dataclass(frozen=True)
class Frame:
    marker: int
    precision: int
    width: int
    height: int
    components: int

    @property
    def browser_safe(self) -> bool:
        """Whether every browser decodes it: 8-bit Huffman DCT, grey or three components."""
        return self.marker in _BROWSER_SOF and self.precision == 8 and self.components in (1, 3)


def header_segments(stream: bytes) -> list[Segment]:
    """The marker segments from after SOI up to and including SOS."""
    return [Segment(marker, start, end, stream[start + 4:end])
            for marker, start, end in _walk(stream)]


def _walk(stream: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each segment from after SOI through SOS, payloads not copied."""
    if not stream.startswith(SOI):
        raise CorruptSlide("JPEG tile does not start with SOI")
    pos, size = 2, len(stream)
    while True:
        while stream.startswith(b"\xff\xff", pos):  # fill bytes may precede a marker
            pos += 1
        if size < pos + 4 or stream[pos] != 0xFF:
            raise CorruptSlide("JPEG tile header is malformed or truncated")
        marker = stream[pos + 1]
        end = pos + 2 + (stream[pos + 2] << 8 | stream[pos + 3])
        if end > size:
            raise CorruptSlide("JPEG tile header is truncated")
        yield marker, pos, end
        if marker == _SOS:
            return
        pos = end


def frame(stream: bytes) -> Frame:
    for seg in header_segments(stream):
        if seg.marker in _SOF and len(seg.payload) >= 6:
            p = seg.payload
            return Frame(seg.marker, p[0], int.from_bytes(p[3:5], "big"),
                         int.from_bytes(p[1:3], "big"), p[5])
    raise CorruptSlide("JPEG tile has no frame header")


def _is_jfif(seg: Segment) -> bool:
    return seg.marker == _APP0 and seg.payload.startswith(b"JFIF\0")


def _is_adobe(seg: Segment) -> bool:
    return seg.marker == _APP14 and seg.payload.startswith(b"Adobe")


def with_rgb_marker(stream: bytes) -> bytes:
    """The stream declaring its samples RGB: Adobe APP14 (transform 0) right after SOI.

    Streams already declaring RGB this way are returned unchanged (not copied).
    """
    # One pass, payloads copied only for APP0 and APP14: this runs for every RGB tile.
    colour = []
    for marker, start, end in _walk(stream):
        if marker in _COLOUR_MARKERS:
            seg = Segment(marker, start, end, stream[start + 4:end])
            if _is_jfif(seg) or _is_adobe(seg):
                colour.append(seg)
    if len(colour) == 1 and _is_adobe(colour[0]) and colour[0].payload[11:12] == b"\x00":
        return stream
    pieces, pos = [SOI, ADOBE_RGB], 2
    for seg in colour:
        pieces.append(stream[pos:seg.start])
        pos = seg.end
    pieces.append(stream[pos:])
    return b"".join(pieces)


def is_complete(stream: bytes) -> bool:
    """Whether the stream ends with EOI (allowing a little padding after it).

    libjpeg fills the missing part of a truncated stream with grey and only warns; this check
    makes truncation an error instead of a half-grey tile passed off as real. In entropy-coded
    data every 0xFF is followed by 0x00 or a restart marker, so FF D9 near the end is EOI.
    """
    return stream.find(EOI, max(0, len(stream) - 32)) >= 0
