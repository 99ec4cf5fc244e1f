"""What every store and range reader offers to the layers above.

A store turns a slide id into an open `RangeReader` and lists ids. A reader knows the object's
size and version (ETag) and returns exact byte ranges, whole or streamed as they arrive; it never
reads more than it is asked. Block alignment and caching happen one layer up, in `caches.blocks`.
"""

import abc
import dataclasses
from typing import Iterator

from ..errors import CorruptSlide


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    id: str
    size: int
    modified: str | None  # ISO 8601, UTC

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a listing. With a delimiter, `folders` holds the prefixes one level down
    (each ending in the delimiter) and `slides` only the objects directly under the prefix;
    both are in key order and `next_cursor` is the last key of either that the page holds."""

    slides: list[ObjectInfo]
    next_cursor: str | None
    folders: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Version:
    """What opening an object learnt of it, or a listing says of it: enough to open it again
    without asking the store. `validators` are the conditional headers every read sends so as
    to meet that version alone; with none, the first read is refused if the object was
    modified after `modified` (a listing's ISO time) and its answer fixes them."""

    size: int
    etag: str = ""
    validators: tuple[tuple[str, str], ...] = ()
    modified: str | None = None


class RangeReader(abc.ABC):
    """An opened object. `etag` identifies this exact version of its bytes."""

    slide_id: str
    size: int
    etag: str
    # Bytes from offset 0 that opening the object already fetched (may be empty); the block
    # cache takes them as its first block instead of asking the store again.
    head: bytes = b""
    # Whether a read is a request over the network, whose round trip reading more bytes at
    # once may spare; a local file's is not.
    remote: bool = True

    def version(self) -> Version:
        return Version(self.size, self.etag)

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`; a range past the end is corrupt slide data."""
        self._check_range(offset, length)
        if length == 0:
            return b""
        return self._read(offset, length)

    def stream(self, offset: int, length: int) -> Iterator[bytes]:
        """The bytes of `read(offset, length)` in consecutive pieces, each as soon as it is in:
        whoever waits on the start of a long read need not wait for its end."""
        self._check_range(offset, length)
        if length:
            yield from self._stream(offset, length)

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CorruptSlide(
                f"read of {length} bytes at {offset} is outside the object ({self.size} bytes)")

    @abc.abstractmethod
    def _read(self, offset: int, length: int) -> bytes: ...

    def _stream(self, offset: int, length: int) -> Iterator[bytes]:
        """One piece, the whole range: for readers whose bytes arrive all at once."""
        yield self._read(offset, length)

    def close(self) -> None:
        """Release what the reader holds; reading after close is an error."""


class Store(abc.ABC):
    """A place slides live. `name` is stable and goes into cache keys."""

    name: str

    @abc.abstractmethod
    def open(self, slide_id: str, known: Version | None = None) -> RangeReader:
        """The object, opened. With `known`, a store whose opening is a request (HTTP, S3)
        trusts that version instead: no request until the first read, which meets only it."""

    @abc.abstractmethod
    def list(self, prefix: str = "", limit: int = 100, cursor: str | None = None,
             delimiter: str | None = None) -> Page:
        """Up to `limit` entries after `cursor`; `delimiter` ("/" only) rolls deeper keys up
        into folders, as S3 does. Stores that cannot list folders list flat."""

    def read_head(self, slide_id: str, length: int) -> bytes:
        """The first `length` bytes of an object (fewer if it is smaller): what a listing needs
        to recognise an object by its magic. One ranged read where the store can."""
        reader = self.open(slide_id)
        try:
            length = min(length, reader.size)
            if len(reader.head) >= length:
                return reader.head[:length]
            return reader.read(0, length)
        finally:
            reader.close()

    def check(self) -> None:
        """Raise a StoreError if the store cannot be reached (readiness); listing one id is
        the default probe."""
        self.list(limit=1)
