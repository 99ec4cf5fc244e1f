"""An ICC profile attached to finished images without touching their pixels.

JPEG: APP2 'ICC_PROFILE' segments (a profile of more than 64 KB is split over several) spliced
in after the leading APP0/APP1 segments, so a passed-through stored tile stays the stored
stream plus these segments. PNG: an iCCP chunk after IHDR. WebP: an ICCP chunk, the file
turned into the extended format (VP8X) that may carry one. What each format needs is built
once per profile, on first use (compressing a large profile for PNG takes tens of ms).
"""

import struct
import zlib

from ..errors import CorruptSlide
from . import jpeg_markers

_APP0, _APP1, _APP2 = 0xE0, 0xE1, 0xE2
ICC_SIGNATURE = b"ICC_PROFILE\0"
_CHUNK = 65535 - 2 - len(ICC_SIGNATURE) - 2  # profile bytes per APP2 segment
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_NAME = b"ICC profile"
_WEBP_ICC_FLAG = 0x20


def jpeg_segments(profile: bytes) -> bytes:
    """The APP2 segments carrying the profile, numbered from 1."""
    chunks = [profile[i:i + _CHUNK] for i in range(0, len(profile), _CHUNK)]
    if len(chunks) > 255:
        raise CorruptSlide(f"an ICC profile of {len(profile)} bytes does not fit in a JPEG")
    return b"".join(b"\xff\xe2" + struct.pack(">H", 2 + len(ICC_SIGNATURE) + 2 + len(chunk))
                    + ICC_SIGNATURE + bytes([number, len(chunks)]) + chunk
                    for number, chunk in enumerate(chunks, 1))


def is_icc_segment(segment: jpeg_markers.Segment) -> bool:
    return segment.marker == _APP2 and segment.payload.startswith(ICC_SIGNATURE)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


class Embedding:
    """One profile, ready to attach to JPEG, PNG and WebP images."""

    def __init__(self, profile: bytes):
        self.profile = profile
        self.jpeg = jpeg_segments(profile)
        self._png: bytes | None = None

    def attach(self, image: bytes, fmt: str) -> bytes:
        if fmt == "jpeg":
            return self.into_jpeg(image)
        if fmt == "png":
            return self.into_png(image)
        return self.into_webp(image)

    def into_jpeg(self, stream: bytes) -> bytes:
        """The stream with the profile's APP2 segments after its leading APP0/APP1 ones (JFIF
        and Exif must come first), any profile it carried dropped."""
        segments = jpeg_markers.header_segments(stream)
        at = 2
        for segment in segments:
            if segment.marker not in (_APP0, _APP1):
                break
            at = segment.end
        pieces, pos = [stream[:at], self.jpeg], at
        for segment in segments:
            if is_icc_segment(segment):
                pieces.append(stream[pos:segment.start])
                pos = segment.end
        pieces.append(stream[pos:])
        return b"".join(pieces)

    def into_png(self, png: bytes) -> bytes:
        """An iCCP chunk right after IHDR (it must precede the image data)."""
        if not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
            raise ValueError("not a PNG stream")
        if self._png is None:
            self._png = _png_chunk(b"iCCP", _PNG_NAME + b"\0\0" + zlib.compress(self.profile))
        end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
        return png[:end] + self._png + png[end:]

    def into_webp(self, webp: bytes) -> bytes:
        """The file in the extended format with an ICCP chunk before the image data."""
        if webp[:4] != b"RIFF" or webp[8:12] != b"WEBP":
            raise ValueError("not a WebP file")
        kind, body = webp[12:16], webp[12:]
        if kind == b"VP8X":
            flags = bytes([body[8] | _WEBP_ICC_FLAG])
            vp8x_end = 8 + 10
            chunks = body[:8] + flags + body[9:vp8x_end] + _riff_chunk(b"ICCP", self.profile) \
                + body[vp8x_end:]
        else:
            width, height = _webp_size(kind, body[8:])
            vp8x = bytes([_WEBP_ICC_FLAG, 0, 0, 0]) + (width - 1).to_bytes(3, "little") \
                + (height - 1).to_bytes(3, "little")
            chunks = _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ICCP", self.profile) + body
        return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _webp_size(kind: bytes, data: bytes) -> tuple[int, int]:
    """(width, height) from a simple WebP's VP8 or VP8L bitstream header."""
    if kind == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and data[:1] == b"\x2f":
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ValueError(f"a WebP file of a kind not known: {kind!r}")
