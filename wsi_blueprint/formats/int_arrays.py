"""Integer arrays of a slide index: small ones inline, big ones referenced where they lie.

Small arrays travel inline as base64 of little-endian integers; big ones (the tile offsets of
a big level) stay in the slide file and the index keeps only where they lie, to be read
through the block cache for just the entries asked for.
"""

import base64
import dataclasses

import numpy

from ..caches import BlockReader
from ..errors import CorruptSlide

# Arrays with more entries than this are referenced in the file instead of copied inline.
INLINE_LIMIT = 256
# Asked entries of a referenced array closer than this are read as one range.
_ENTRY_GAP = 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclasses.dataclass(frozen=True)
class IntArray:
    """Non-negative integers: inline `values`, or `count` items of `dtype` at file `offset`."""

    count: int
    values: tuple[int, ...] | None = None
    offset: int = 0
    dtype: str = ""  # numpy dtype of the stored items, byte order included: '<u4', '>u8'

    @classmethod
    def of(cls, values, offset: int, dtype: str) -> "IntArray":
        """Inline when small; otherwise a reference to the stored array."""
        if len(values) <= INLINE_LIMIT:
            return cls(len(values), tuple(int(v) for v in values))
        return cls(len(values), None, offset, dtype)

    def to_json(self) -> dict:
        if self.values is None:
            return {"n": self.count, "at": self.offset, "dtype": self.dtype}
        dtype = "<u4" if max(self.values, default=0) < 2 ** 32 else "<u8"
        return {"n": self.count, "dtype": dtype,
                "b64": b64(numpy.array(self.values, dtype=dtype).tobytes())}

    @classmethod
    def from_json(cls, data: dict) -> "IntArray":
        if "b64" in data:
            values = numpy.frombuffer(unb64(data["b64"]), numpy.dtype(data["dtype"]))
            if len(values) != data["n"]:
                raise ValueError("inline array length does not match its count")
            return cls(data["n"], tuple(int(v) for v in values))
        return cls(data["n"], None, data["at"], data["dtype"])


def _clusters(indices: list[int]) -> list[list[int]]:
    """Sorted indices grouped where neighbours are at most _ENTRY_GAP apart."""
    clusters: list[list[int]] = []
    for i in indices:
        if clusters and i - clusters[-1][-1] <= _ENTRY_GAP:
            clusters[-1].append(i)
        else:
            clusters.append([i])
    return clusters


def read_entries(blocks: BlockReader, arrays: list[IntArray],
                 indices: list[int]) -> list[dict[int, int]]:
    """{index: item} of each array at `indices`. Referenced arrays are read with a single
    read_many, one range per cluster of nearby indices, whatever their number."""
    wanted = sorted(set(indices))
    for array in arrays:
        if wanted and not 0 <= wanted[0] <= wanted[-1] < array.count:
            raise CorruptSlide(f"entry {wanted[-1]} of an array of {array.count} is missing")
    clusters = _clusters(wanted)
    referenced = [array for array in arrays if array.values is None]
    ranges = [(array.offset + cluster[0] * numpy.dtype(array.dtype).itemsize,
               (cluster[-1] - cluster[0] + 1) * numpy.dtype(array.dtype).itemsize)
              for array in referenced for cluster in clusters]
    datas = iter(blocks.read_many(ranges) if ranges else [])
    found = []
    for array in arrays:
        if array.values is not None:
            found.append({i: array.values[i] for i in wanted})
            continue
        items = {}
        for cluster in clusters:
            values = numpy.frombuffer(next(datas), numpy.dtype(array.dtype))
            items.update((i, int(values[i - cluster[0]])) for i in cluster)
        found.append(items)
    return found
