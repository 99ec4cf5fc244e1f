"""A slide made of several objects, read as one: each member at its own far-apart base offset.

DICOM series (one instance per level) and MRXS slides (an index file and data files) spread a
slide over objects. Joining them into one address space keeps everything above the store
unchanged: one block reader, one namespace in the caches, offsets in the index that say by
themselves which member holds their bytes (`member_of`), prefetch and read-ahead as for a single
file. Members are opened on their first read, so a slide whose index is cached opens none it
does not read, and at the version the listing gave (size and modification time): that first
read is the opening, not a store request before it, and meets a member replaced since the
listing as a changed object.
"""

import threading
from typing import Callable, Iterator

from ..errors import CorruptSlide, ObjectChanged
from .base import ObjectInfo, RangeReader, Version

# Member i starts at i << MEMBER_SHIFT (a tebibyte apart: no member is that large, and every
# power-of-two block size divides it, so no block spans two members).
MEMBER_SHIFT = 40


def member_base(member: int) -> int:
    return member << MEMBER_SHIFT


def member_of(offset: int) -> tuple[int, int]:
    """(member, offset inside it) of a joined offset."""
    return offset >> MEMBER_SHIFT, offset & ((1 << MEMBER_SHIFT) - 1)


class JoinedReader(RangeReader):
    """`members` as listed; `open_member(id, known)` opens one at the version listed. The
    version is the caller's (a digest of the listing); a member whose size differs from the
    listing's has been replaced since and raises ObjectChanged."""

    def __init__(self, slide_id: str, members: list[ObjectInfo], etag: str,
                 open_member: Callable[[str, Version], RangeReader]):
        if not members:
            raise CorruptSlide(f"slide {slide_id!r} has no member objects")
        for info in members:
            if info.size >= 1 << MEMBER_SHIFT:
                raise CorruptSlide(f"member {info.id!r} is too large to join")
        self.slide_id = slide_id
        self.members = list(members)
        self.etag = etag
        self.size = member_base(len(members) - 1) + members[-1].size
        self._open_member = open_member
        self._readers: dict[int, RangeReader] = {}
        self._heads: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def member(self, index: int) -> RangeReader:
        """Member `index`, opened on first use."""
        with self._lock:
            reader = self._readers.get(index)
        if reader is not None:
            return reader
        info = self.members[index]
        reader = self._open_member(info.id, Version(info.size, modified=info.modified))
        if reader.size != info.size:
            reader.close()
            raise ObjectChanged(f"slide {self.slide_id!r}: member {info.id!r} changed")
        with self._lock:
            if index in self._readers:  # another thread opened it meanwhile
                reader.close()
                return self._readers[index]
            self._readers[index] = reader
            self._heads[index] = reader.head
        return reader

    def _read(self, offset: int, length: int) -> bytes:
        return b"".join(self._stream(offset, length))

    def _stream(self, offset: int, length: int) -> Iterator[bytes]:
        """The bytes of one member; the gap after a member (blocks and read units may round
        into it) reads as zeros and costs no request."""
        index, start = member_of(offset)
        if index >= len(self.members):
            raise CorruptSlide(f"read at {offset} is past the last member")
        inside = max(0, min(length, self.members[index].size - start))
        gap = length - inside
        if gap and index + 1 < len(self.members) and offset + length > member_base(index + 1):
            raise CorruptSlide(f"read of {length} bytes at {offset} spans two members")
        if inside:
            reader = self.member(index)
            head = self._heads.get(index, b"")[start:start + inside]  # what opening read
            if head:
                yield head
            if len(head) < inside:
                yield from reader.stream(start + len(head), inside - len(head))
        if gap:
            yield bytes(gap)

    def close(self) -> None:
        with self._lock:
            readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            reader.close()
