"""A read-only, seekable file over a BlockReader, so tifffile can parse a slide in the store.

tifffile reads a TIFF's structure in many small pieces (headers, tag tables, values); each
piece is served from the block cache, so parsing costs a few block-sized store requests, not
one request per read, and no local copy of the slide.
"""

import io

from ..caches import BlockReader


class RangeFile(io.RawIOBase):
    """The bytes of `blocks`, or `size` of them from `start` (one member of a joined slide)."""

    def __init__(self, blocks: BlockReader, start: int = 0, size: int | None = None):
        super().__init__()
        self._blocks = blocks
        self._start = start
        self._size = blocks.size - start if size is None else size
        self._position = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def read(self, size: int = -1) -> bytes:
        """Like a file: at most `size` bytes, fewer at the end, b'' past it."""
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        data = self._blocks.read(self._start + start, end - start)
        self._position = end
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)
