"""Where each frame of a TILED_SPARSE instance lies: its PlanePositionSlideSequence.

A sparse level of tens of thousands of frames has as many per-frame functional groups;
pydicom turns each element it is asked for into an object (seconds for 10 000 frames). The
positions are found instead by their tags in the still-raw bytes of the sequence: a column and
row position (SL, adjacent in every item), the Z offset and optical path where each frame has
one. Where the bytes do not give exactly one of each per frame, pydicom reads them.
"""

import re

from pydicom.dataset import Dataset

from ...errors import CorruptSlide
from .header import required

PER_FRAME = 0x52009230  # PerFrameFunctionalGroupsSequence
# Column (0048,021E) then row (0048,021F) position, SL: explicit VR, then implicit VR.
_COLUMN_ROW = {False: re.compile(rb"\x48\x00\x1e\x02SL\x04\x00(.{4})"
                                 rb"\x48\x00\x1f\x02SL\x04\x00(.{4})", re.S),
               True: re.compile(rb"\x48\x00\x1e\x02\x04\x00\x00\x00(.{4})"
                                rb"\x48\x00\x1f\x02\x04\x00\x00\x00(.{4})", re.S)}
# Z offset (0040,074A) DS and optical path identifier (0048,0106) SH: tag, then the length.
_Z = {False: re.compile(rb"\x40\x00\x4a\x07DS(..)", re.S),
      True: re.compile(rb"\x40\x00\x4a\x07(....)", re.S)}
_PATH = {False: re.compile(rb"\x48\x00\x06\x01SH(..)", re.S),
         True: re.compile(rb"\x48\x00\x06\x01(....)", re.S)}

Position = tuple[int, int, tuple]  # 0-based x, y in the total pixel matrix; its plane


def frame_positions(ds: Dataset, count: int, implicit: bool) -> list[Position]:
    element = ds.get_item(PER_FRAME)
    raw = element.value if element is not None else None
    if isinstance(raw, bytes):
        found = _from_bytes(raw, count, implicit)
        if found is not None:
            return found
    return _from_dataset(ds, count)


def _values(pattern: re.Pattern, raw: bytes) -> list[bytes]:
    """Each match's value: the bytes of the length its match captured."""
    values = []
    for match in pattern.finditer(raw):
        length = int.from_bytes(match.group(1), "little")
        values.append(raw[match.end():match.end() + length].strip(b" \0"))
    return values


def _from_bytes(raw: bytes, count: int, implicit: bool) -> list[Position] | None:
    pairs = _COLUMN_ROW[implicit].findall(raw)
    if len(pairs) != count:
        return None
    planes = []
    for pattern in (_Z[implicit], _PATH[implicit]):
        values = _values(pattern, raw)
        if values and len(values) != count:
            return None
        planes.append(values or [b""] * count)
    return [(int.from_bytes(column, "little", signed=True) - 1,
             int.from_bytes(row, "little", signed=True) - 1, (z, path))
            for (column, row), z, path in zip(pairs, *planes)]


def _from_dataset(ds: Dataset, count: int) -> list[Position]:
    groups = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(groups) != count:
        raise CorruptSlide("a TILED_SPARSE instance without a position for every frame")
    positions = []
    for number, group in enumerate(groups):
        position = (group.get("PlanePositionSlideSequence") or [None])[0]
        if position is None:
            raise CorruptSlide(f"frame {number + 1} has no PlanePositionSlideSequence")
        path = (group.get("OpticalPathIdentificationSequence") or [Dataset()])[0]
        z = position.get("ZOffsetInSlideCoordinateSystem")
        plane = (str(z).encode() if z is not None else b"",
                 str(path.get("OpticalPathIdentifier", "")).encode())
        positions.append((int(required(position, "ColumnPositionInTotalImagePixelMatrix")) - 1,
                          int(required(position, "RowPositionInTotalImagePixelMatrix")) - 1,
                          plane))
    return positions
