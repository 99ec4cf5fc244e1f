"""Index.dat and the camera position record of a 3DHistech MRXS slide.

Index.dat starts with its version and the slide id, then two pointers: to the table of the
levels' record lists and to the table of the non-hierarchical records. A list is a chain of
pages, each its item count and a pointer to the next page, then the items; the first page is
empty. A level's items are the image index, offset, length and data file number of each
stored image. OpenSlide reads the pages after the first one after another, the pointer saying
only whether another follows, and so do we (scanners write them so). A non-hierarchical record
has one page of one item, whose first two fields are zero.

The position record holds, per camera photo, a flag byte and x, y as little-endian int32
(raw, or zlib-compressed in a StitchingIntensityLayer).
"""

import dataclasses
import struct
import zlib

import numpy

from ..errors import CorruptSlide

VERSION = b"01.02"
POSITION_RECORD = struct.Struct("<Bii")
_INT = struct.Struct("<i")


@dataclasses.dataclass(frozen=True)
class Record:
    """Where one stored image (or other data) lies: `length` bytes at `offset` of data file
    number `file`."""

    offset: int
    length: int
    file: int


@dataclasses.dataclass(frozen=True)
class LevelRecords:
    """A level's stored images, as arrays in stored order."""

    image: numpy.ndarray     # image index: row-major among the level-0 images
    offset: numpy.ndarray
    length: numpy.ndarray
    file: numpy.ndarray      # data file number


class IndexFile:
    def __init__(self, data: bytes, slide_id: str, data_files: int):
        self.data = data
        self.data_files = data_files
        head = VERSION + slide_id.encode("utf-8", "replace")
        if data[:len(VERSION)] != VERSION:
            raise CorruptSlide(f"Index.dat is not of version {VERSION.decode()}")
        if data[:len(head)] != head:
            raise CorruptSlide("Index.dat belongs to another slide (its slide id differs)")
        self.hier_root = len(head)
        self.nonhier_root = len(head) + 4

    def _int(self, at: int, what: str) -> int:
        if not 0 <= at <= len(self.data) - 4:
            raise CorruptSlide(f"Index.dat ends before {what} (at byte {at})")
        return _INT.unpack_from(self.data, at)[0]

    def _record(self, offset: int, length: int, file: int, what: str) -> Record:
        if offset < 0 or length < 0:
            raise CorruptSlide(f"Index.dat gives {what} a negative offset or length")
        if not 0 <= file < self.data_files:
            raise CorruptSlide(f"Index.dat puts {what} in data file {file} "
                               f"(Slidedat.ini lists {self.data_files})")
        return Record(offset, length, file)

    def level_records(self, level: int) -> "LevelRecords":
        """Every stored image of a level, in stored order."""
        table = self._int(self.hier_root, "the level table pointer")
        head = self._int(table + 4 * level, f"level {level}'s list pointer")
        if self._int(head, f"level {level}'s list") != 0:
            raise CorruptSlide(f"Index.dat: level {level}'s list does not start empty")
        at = self._int(head + 4, f"level {level}'s first page pointer")
        pages = []
        while True:
            count = self._int(at, f"a page of level {level}")
            more = self._int(at + 4, f"a page of level {level}")
            if count < 0 or at + 8 + 16 * count > len(self.data):
                raise CorruptSlide(f"Index.dat: a page of level {level} claims {count} "
                                   "records, more than the file holds")
            pages.append(numpy.frombuffer(self.data, "<i4", 4 * count, at + 8).reshape(-1, 4))
            at += 8 + 16 * count
            if more == 0:
                break
        items = numpy.concatenate(pages).astype(numpy.int64)
        if (items[:, :3] < 0).any():
            raise CorruptSlide(f"Index.dat gives an image of level {level} a negative index, "
                               "offset or length")
        if ((items[:, 3] < 0) | (items[:, 3] >= self.data_files)).any():
            raise CorruptSlide(f"Index.dat puts an image of level {level} in a data file "
                               f"Slidedat.ini does not list (it lists {self.data_files})")
        return LevelRecords(*items.T)

    def nonhier_record(self, number: int, what: str) -> Record:
        table = self._int(self.nonhier_root, "the record table pointer")
        head = self._int(table + 4 * number, f"the {what} record pointer")
        if self._int(head, f"the {what} record") != 0:
            raise CorruptSlide(f"Index.dat: the {what} record does not start with 0")
        page = self._int(head + 4, f"the {what} page pointer")
        if self._int(page, f"the {what} page") < 1:
            raise CorruptSlide(f"Index.dat: the {what} page holds no record")
        if self._int(page + 8, what) != 0 or self._int(page + 12, what) != 0:
            raise CorruptSlide(f"Index.dat: the {what} record lacks its two zero fields")
        offset, length, file = (self._int(page + 16 + 4 * i, f"the {what} record")
                                for i in range(3))
        return self._record(offset, length, file, f"the {what}")


def camera_positions(data: bytes, compressed: bool, count: int,
                     concat: int) -> list[tuple[int, int]]:
    """The level-0 position of each of `count` camera photos (row-major), from the position
    record's bytes; `concat` is level 0's image concatenation."""
    size = POSITION_RECORD.size * count
    if compressed:
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(data, size + 1)
        except zlib.error as exc:
            raise CorruptSlide(f"the MRXS camera positions do not decompress: {exc}") from None
    if len(data) != size:
        raise CorruptSlide(f"the MRXS camera positions take {len(data)} bytes, not the "
                           f"{size} of {count} photos")
    positions = []
    for flag, x, y in POSITION_RECORD.iter_unpack(data):
        if flag & 0xFE:
            raise CorruptSlide(f"an MRXS camera position has the flag {flag}")
        positions.append((x * concat, y * concat))
    return positions
