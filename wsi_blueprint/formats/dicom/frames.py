"""Where an instance's frames lie: from the Extended Offset Table, else the Basic Offset Table,
else a walk over the items of the encapsulated pixel data; native pixel data by arithmetic.

The walk reads the pixel data in large ranged reads (a small one through the block cache, whose
frames are read soon anyway; a big one past it, in chunks fetched several at a time), never one
request per frame.
"""

import collections
import concurrent.futures
import itertools
from collections.abc import Iterator

import numpy

from ...caches import BlockReader
from ...errors import CorruptSlide, StoreTimeout
from ..index import Frames, IntArray
from .header import IMPLICIT_VR, Instance

ITEM = b"\xfe\xff\x00\xe0"
SEQUENCE_END = b"\xfe\xff\xdd\xe0"
UNDEFINED = 0xFFFFFFFF
_EXTENDED_TAGS = (b"\xe0\x7f\x01\x00", b"\xe0\x7f\x02\x00")  # (7FE0,0001), (7FE0,0002)
# Pixel data up to this size is walked through the block cache; more is read past it in chunks,
# several at once (a level of 50 000 frames is a gigabyte or two).
WALK_CACHED = 4 << 20
WALK_CHUNK = 8 << 20
WALK_AHEAD = 8
WALK_TIMEOUT = 60.0  # seconds for one chunk
# Where a frame's first fragment starts: JPEG and JPEG-LS SOI, a JPEG 2000 codestream or JP2.
_FRAME_STARTS = (b"\xff\xd8", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0c")


def _element_header(blocks: BlockReader, instance: Instance) -> tuple[int, int]:
    """(offset of the Pixel Data value in the member, its length or UNDEFINED)."""
    explicit = instance.transfer_syntax != IMPLICIT_VR
    size = 12 if explicit else 8
    if instance.pixel_at + size > instance.size:
        raise CorruptSlide("the pixel data element is truncated")
    header = blocks.read(instance.base + instance.pixel_at, size)
    length = int.from_bytes(header[size - 4:size], "little")
    return instance.pixel_at + size, length


def native_frames(blocks: BlockReader, instance: Instance, tile: tuple[int, int],
                  frame_bytes: int) -> Frames:
    start, length = _element_header(blocks, instance)
    if length == UNDEFINED:
        raise CorruptSlide("native pixel data of undefined length")
    if instance.frame_count * frame_bytes > length or start + length > instance.size:
        raise CorruptSlide(f"the pixel data holds {min(length, instance.size - start)} bytes, "
                           f"fewer than {instance.frame_count} frames of {frame_bytes}")
    return Frames(*tile, base=instance.base + start, stride=frame_bytes)


def encapsulated_frames(blocks: BlockReader, instance: Instance,
                        tile: tuple[int, int]) -> tuple[Frames, str]:
    """The frames' layout and how their offsets were found ('extended', 'basic', 'walk')."""
    start, length = _element_header(blocks, instance)
    if length != UNDEFINED:
        raise CorruptSlide("compressed pixel data that is not encapsulated")
    if start + 8 > instance.size:
        raise CorruptSlide("the pixel data ends before its offset table")
    bot_header = blocks.read(instance.base + start, 8)
    if bot_header[:4] != ITEM:
        raise CorruptSlide("encapsulated pixel data does not start with its offset table item")
    bot_length = int.from_bytes(bot_header[4:], "little")
    first = start + 8 + bot_length  # the first fragment: where table offsets count from
    if bot_length % 4 or first > instance.size:
        raise CorruptSlide("the Basic Offset Table runs past the end of the file")
    count, end = instance.frame_count, instance.size - first
    base = instance.base + first
    extended = instance.dataset.get((0x7FE0, 0x0001))
    if extended is not None and extended.value:
        starts = _table(extended.value, "<u8", count, end, "Extended Offset Table")
        lengths = numpy.frombuffer(_value(instance, (0x7FE0, 0x0002)), "<u8")
        if len(lengths) != len(starts) or any(
                s + 8 + n > end for s, n in zip(starts.tolist(), lengths.tolist())):
            raise CorruptSlide("the Extended Offset Table's lengths do not match its offsets")
        at = _extended_table_at(blocks, instance, 8 * len(starts))
        starts_array = IntArray.of(starts, instance.base + at[0], "<u8") if at \
            else _inline(starts)
        if count and _counts_item_headers(blocks, base, int(lengths[0])):
            # wsidicom counts each item's header in its length: the offsets alone delimit
            # the frames (they are in order, checked above).
            return Frames(*tile, base=base, starts=starts_array, end=end), "extended"
        return Frames(*tile, base=base, end=end, starts=starts_array,
                      lengths=IntArray.of(lengths, instance.base + at[1], "<u8") if at
                      else _inline(lengths)), "extended"
    if bot_length:
        values = blocks.read(instance.base + start + 8, bot_length)
        starts = _table(values, "<u4", count, end, "Basic Offset Table")
        return Frames(*tile, base=base, starts=IntArray.of(starts, instance.base + start + 8,
                                                           "<u4"), end=end), "basic"
    starts, end = _walk(blocks, instance, first, count)
    return Frames(*tile, base=base, starts=_inline(starts), end=end), "walk"


def _counts_item_headers(blocks: BlockReader, first_item: int, length: int) -> bool:
    """Whether the Extended Offset Table's first length counts its item's 8-byte header (as
    wsidicom writes it) rather than only the frame's bytes (as the standard says)."""
    header = blocks.read(first_item, 8)
    item_length = int.from_bytes(header[4:], "little")
    if header[:4] != ITEM:
        raise CorruptSlide("the Extended Offset Table's first offset is no item")
    if item_length in (length, length + length % 2):
        return False
    if item_length + 8 == length:
        return True
    raise CorruptSlide(f"the Extended Offset Table's length {length} disagrees with its "
                       f"item's {item_length}")


def _extended_table_at(blocks: BlockReader, instance: Instance,
                       size: int) -> tuple[int, int] | None:
    """Where the Extended Offset Table's offsets and lengths lie in the member: the two
    elements right before the pixel data, as the standard orders them (checked by their tags).
    Their entries are then read per tile, as TIFF tile tables are; None if not found there."""
    header = 8 if instance.transfer_syntax == IMPLICIT_VR else 12
    lengths_at = instance.pixel_at - size
    offsets_at = lengths_at - header - size
    if offsets_at - header < 0:
        return None
    tags = blocks.read_many([(instance.base + offsets_at - header, 4),
                             (instance.base + lengths_at - header, 4)])
    return (offsets_at, lengths_at) if tags == list(_EXTENDED_TAGS) else None


def _value(instance: Instance, tag: tuple[int, int]) -> bytes:
    element = instance.dataset.get(tag)
    if element is None or not element.value:
        raise CorruptSlide("an Extended Offset Table without its lengths")
    return element.value


def _inline(values) -> IntArray:
    return IntArray(len(values), tuple(int(v) for v in values))


def _table(data: bytes, dtype: str, count: int, end: int, name: str) -> numpy.ndarray:
    starts = numpy.frombuffer(data, dtype)
    if len(starts) != count:
        raise CorruptSlide(f"the {name} has {len(starts)} entries for {count} frames")
    if count and (starts[0] != 0 or numpy.any(numpy.diff(starts.astype(numpy.int64)) <= 0)
                  or int(starts[-1]) + 8 > end):
        raise CorruptSlide(f"the {name} points past the end of the file or out of order")
    return starts


def _chunks(blocks: BlockReader, at: int, total: int) -> Iterator[bytes]:
    """The `total` bytes at `at`, in order: one read through the block cache when small, else
    WALK_CHUNK ranges past it, WALK_AHEAD of them in flight at once."""
    if total <= WALK_CACHED:
        yield blocks.read(at, total)
        return
    starts = iter(range(0, total, WALK_CHUNK))
    with concurrent.futures.ThreadPoolExecutor(WALK_AHEAD, "wsi-dicom-walk") as pool:
        flight: collections.deque = collections.deque()
        for start in itertools.islice(starts, WALK_AHEAD):
            flight.append(pool.submit(blocks.reader.read, at + start,
                                      min(WALK_CHUNK, total - start)))
        while flight:
            try:
                data = flight.popleft().result(timeout=WALK_TIMEOUT)
            except concurrent.futures.TimeoutError:
                raise StoreTimeout("the store did not deliver the pixel data in time") from None
            for start in itertools.islice(starts, 1):
                flight.append(pool.submit(blocks.reader.read, at + start,
                                          min(WALK_CHUNK, total - start)))
            yield data


def _walk(blocks: BlockReader, instance: Instance, first: int,
          count: int) -> tuple[list[int], int]:
    """Every fragment's offset (from `first`), found by reading the pixel data in order; the
    frames' starts are the fragments that begin a frame. Returns (starts, offset of the
    sequence end)."""
    total = instance.size - first
    fragments: list[tuple[int, bytes]] = []
    buffer, buffer_at, position = b"", 0, 0  # buffer holds the stream from buffer_at
    for chunk in _chunks(blocks, instance.base + first, total):
        buffer += chunk
        last = buffer_at + len(buffer) == total
        while position - buffer_at + (8 if last else 12) <= len(buffer):
            header = buffer[position - buffer_at:position - buffer_at + 12]
            if header[:4] == SEQUENCE_END:
                return _frame_starts(fragments, count), position
            if header[:4] != ITEM:
                raise CorruptSlide(f"no item header at byte {first + position} of the pixel "
                                   "data")
            fragments.append((position, header[8:12]))
            if len(fragments) > 4 * count + 64:
                raise CorruptSlide(f"more fragments than {count} frames can be made of")
            position += 8 + int.from_bytes(header[4:8], "little")
        consumed = min(position - buffer_at, len(buffer))
        buffer, buffer_at = buffer[consumed:], buffer_at + consumed
    raise CorruptSlide("the pixel data ends without its sequence delimiter (truncated)")


def _frame_starts(fragments: list[tuple[int, bytes]], count: int) -> list[int]:
    if len(fragments) == count:
        return [at for at, _ in fragments]
    starts = [at for at, head in fragments if head.startswith(_FRAME_STARTS)]
    if len(starts) != count or (fragments and starts[:1] != [0]):
        raise CorruptSlide(f"{len(fragments)} fragments do not make {count} frames")
    return starts
