"""Where a slide's ICC profile lies and what it is, without its bytes.

Scanners embed profiles of up to a few megabytes (TIFF tag 34675). The index is shared through
memcached, so it keeps only the profile's place (an offset and length within one of the slide's
objects) and the few fields a client shows (its 'desc' name and colour space), read from the
profile's header and tag table; the bytes are read through the block cache when needed.
"""

import dataclasses
import struct

import tifffile

ICC_TAG = 34675  # TIFF InterColorProfile
_HEADER = 132     # the 128-byte header and the tag count
_TAG_ENTRY = 12   # signature, offset, size
_MAX_TAGS = 1024  # more than any real profile; bounds what a garbled count makes us read
_MAX_DESC = 4096


@dataclasses.dataclass(frozen=True)
class IccProfile:
    offset: int
    length: int
    description: str  # the profile's 'desc' text; '' when it has none we can read
    color_space: str  # the header's data colour space: 'RGB', 'GRAY', 'CMYK'...
    # The object holding it, relative to the slide's own (a DICOM series' instance); '' is the
    # slide's object itself.
    member: str = ""

    def to_json(self) -> dict:
        return {"at": self.offset, "n": self.length, "desc": self.description,
                "space": self.color_space, "member": self.member}

    @classmethod
    def from_json(cls, data: dict) -> "IccProfile":
        return cls(data["at"], data["n"], data["desc"], data["space"], data["member"])


def _text(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("latin-1").strip()


def _description(tag: bytes) -> str:
    """The text of a 'desc' tag: ICC v2 textDescriptionType or v4 multiLocalizedUnicodeType
    (its first record)."""
    if tag[:4] == b"desc" and len(tag) >= 12:
        (count,) = struct.unpack_from(">I", tag, 8)
        return _text(tag[12:12 + count])
    if tag[:4] == b"mluc" and len(tag) >= 28:
        length, offset = struct.unpack_from(">II", tag, 20)
        return tag[offset:offset + length].decode("utf-16-be", "replace").strip("\0 ")
    return ""


def _summary(read, length: int) -> tuple[str, str] | None:
    """(description, colour space) of the profile that `read(start, size)` reads; None if it
    is no ICC profile (no 'acsp' signature)."""
    if length < _HEADER:
        return None
    header = read(0, _HEADER)
    if header[36:40] != b"acsp":
        return None
    color_space = _text(header[16:20])
    (count,) = struct.unpack_from(">I", header, 128)
    table = read(_HEADER, min(count, _MAX_TAGS, (length - _HEADER) // _TAG_ENTRY) * _TAG_ENTRY)
    for i in range(0, len(table) - _TAG_ENTRY + 1, _TAG_ENTRY):
        signature, offset, size = struct.unpack_from(">4sII", table, i)
        if signature == b"desc" and offset + size <= length:
            return _description(read(offset, min(size, _MAX_DESC))), color_space
    return "", color_space


def locate(page: tifffile.TiffPage) -> IccProfile | None:
    """The page's profile, its tag value left unread but for the header, tag table and name;
    None if the page has none."""
    tag = page.tags.get(ICC_TAG)
    if tag is None or not tag.valuebytecount or not tag.valueoffset:
        return None
    handle = page.parent.filehandle

    def read(start: int, size: int) -> bytes:
        with handle.lock:
            handle.seek(tag.valueoffset + start)
            return handle.read(size)

    summary = _summary(read, tag.valuebytecount)
    if summary is None:
        return None  # garbage in the tag: treated as no profile, as OpenSlide does
    return IccProfile(tag.valueoffset, tag.valuebytecount, *summary)


def locate_each(pages: dict[str, tifffile.TiffPage]) -> dict[str, IccProfile]:
    """The profiles of named pages (associated images) that have one."""
    profiles = {name: locate(page) for name, page in pages.items()}
    return {name: profile for name, profile in profiles.items() if profile is not None}
