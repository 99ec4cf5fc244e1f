"""Block-aligned, cached reads of one open object: what the formats layer reads through.

Byte ranges are rounded out to aligned blocks. Blocks come from the block cache (process, then
memcached); the missing ones are claimed (so a concurrent reader of the same block waits instead
of fetching it again), grouped into runs of adjacent blocks, and each run is fetched with one
range request, the runs in parallel.

Store reads may be rounded out further, to aligned units of `read_size` bytes (a multiple of
the block, chosen by the prefetch control loop): a unit's missing blocks come in the same
request and are cached as blocks. A viewer's screen spans several tile rows, a few hundred
kilobytes apart in the file; with units of a megabyte they are one request instead of one
each, and the next screen's rows are often in the same units already. Cache keys stay per
block, so changing the unit never orphans what is cached.
"""

import concurrent.futures
import contextlib
import contextvars
import threading
from typing import Callable, Iterable, Iterator

from ..errors import CorruptSlide, StoreTimeout
from ..storage import RangeReader
from ..timing import phase
from .tiered import TieredCache

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _io_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Created on first use, after gevent (if any) has patched threading: its workers are then
    greenlets, which is what network waits want."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="wsi-io")
        return _pool


_background = contextvars.ContextVar("wsi_background_reads", default=False)


@contextlib.contextmanager
def background_reads() -> Iterator[None]:
    """Reads made inside are not a viewer's (prefetching): `on_read` does not hear of them."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


_recorder: contextvars.ContextVar[dict | None] = contextvars.ContextVar("wsi_read_recorder",
                                                                     default=None)


@contextlib.contextmanager
def recording_reads() -> Iterator[dict[str, set[int]]]:
    """Collects the blocks read inside, by object: {namespace: {index, ...}}."""
    record: dict[str, set[int]] = {}
    token = _recorder.set(record)
    try:
        yield record
    finally:
        _recorder.reset(token)


def block_runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted block indices -> [(first, last)] runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


class BlockReader:
    def __init__(self, reader: RangeReader, cache: TieredCache, block_size: int, namespace: str,
                 on_read: Callable[[str, list[int]], None] | None = None,
                 read_size: Callable[[], int] | None = None,
                 on_read_ahead: Callable[[str, dict[int, int]], None] | None = None):
        """`namespace` names this exact object version (store, id, ETag) in cache keys;
        `on_read(namespace, indices)` hears of every read made for a viewer (the prefetcher's
        ledger: which prefetched blocks were used); `read_size()` is the current store read
        unit (default: one block) and `on_read_ahead(namespace, {index: bytes})` hears of the
        blocks any read (a viewer's or prefetch's) fetched beyond those it asked for."""
        self.reader = reader
        self.on_read = on_read
        self.read_size = read_size
        self.on_read_ahead = on_read_ahead
        self.size = reader.size
        self.block_size = block_size
        self._cache = cache
        self._last_run_end = -2  # the block after the last run fetched: is the next sequential?
        self.namespace = namespace
        self._prefix = f"{namespace}|{block_size}"
        head = reader.head
        if head and len(head) >= min(block_size, self.size):
            cache.set(self._key(0), head[:block_size])

    def _key(self, index: int) -> str:
        return f"{self._prefix}|{index}"

    def _span(self, index: int) -> tuple[int, int]:
        start = index * self.block_size
        return start, min(self.block_size, self.size - start)

    def read(self, offset: int, length: int) -> bytes:
        return self.read_many([(offset, length)])[0]

    def read_many(self, ranges: Iterable[tuple[int, int]]) -> list[bytes]:
        """Exact bytes for each (offset, length); ranges past the end raise CorruptSlide."""
        ranges = list(ranges)
        for offset, length in ranges:
            if offset < 0 or length < 0 or offset + length > self.size:
                raise CorruptSlide(f"read of {length} bytes at {offset} is outside the object "
                                   f"({self.size} bytes)")
        blocks = self.blocks(self.indices(ranges))
        out = []
        for offset, length in ranges:
            if length <= 0:
                out.append(b"")
                continue
            first = offset // self.block_size
            last = (offset + length - 1) // self.block_size
            joined = b"".join(blocks[i] for i in range(first, last + 1))
            start = offset - first * self.block_size
            out.append(joined[start:start + length])
        return out

    def indices(self, ranges: Iterable[tuple[int, int]]) -> list[int]:
        """The blocks that hold these (offset, length) ranges, in order."""
        return sorted({i for offset, length in ranges if length > 0
                       for i in range(offset // self.block_size,
                                      (offset + length - 1) // self.block_size + 1)})

    def cached(self, indices: list[int]) -> set[int]:
        """Which of these blocks are cached (process or memcached), fetching nothing."""
        keys = {self._key(i): i for i in indices}
        return {keys[k] for k in self._cache.peek_many(list(keys))}

    def plan(self, indices: list[int]) -> tuple[list[int], list[int]]:
        """What a read of these blocks would fetch: the uncached ones among them, and the other
        uncached blocks of their read units."""
        missing = set(indices) - self.cached(indices)
        return sorted(missing), sorted(self._units(missing) - missing)

    def length(self, index: int) -> int:
        """Bytes in this block (the last one may be short)."""
        return self._span(index)[1]

    def _units(self, missing: set[int]) -> set[int]:
        """`missing` with the uncached blocks of the read units they fall in."""
        per_unit = max(1, (self.read_size() if self.read_size else 0) // self.block_size)
        if per_unit == 1 or not missing:
            return missing
        end = (self.size - 1) // self.block_size + 1  # past the last block
        starts = {i - i % per_unit for i in missing}
        around = {j for start in starts for j in range(start, min(end, start + per_unit))}
        around -= missing
        return missing | (around - self.cached(sorted(around)))

    def blocks(self, indices: list[int]) -> dict[int, bytes]:
        """The given blocks, fetching the missing ones (with their read units' other uncached
        blocks, which are cached, not returned)."""
        found, mine, theirs = self._claim(indices)
        if mine:
            found.update(self._fetch_led(mine))
        if theirs:
            # Bytes another request is fetching: still a wait on the store (Server-Timing).
            with phase("store"):
                for i, flight in theirs.items():
                    found[i] = flight.wait(self._cache.wait_timeout)
        if self.on_read is not None and not _background.get():
            self.on_read(self.namespace, indices)
        record = _recorder.get()
        if record is not None:
            record.setdefault(self.namespace, set()).update(indices)
        return found

    def fetch(self, indices: list[int]) -> list[int]:
        """Fetches those of the blocks that are neither cached nor on their way already (with
        their read units' other uncached blocks) and returns them: what this call fetched
        itself. Another read's fetch is not waited for (warming the cache, not reading)."""
        _, mine, _ = self._claim(indices)
        if mine:
            self._fetch_led(mine)
        return mine

    def _claim(self, indices: list[int]) -> tuple[dict[int, bytes], list[int], dict]:
        """(the cached blocks, the missing ones this call now leads the fetch of, {index: the
        flight of another request fetching it})."""
        keys = {i: self._key(i) for i in indices}
        cached = self._cache.get_many(list(keys.values()))
        found = {i: cached[k] for i, k in keys.items() if k in cached}
        mine, theirs = [], {}
        for i in indices:
            if i not in found:
                flight, leader = self._cache.flights.begin(keys[i])
                (mine.append(i) if leader else theirs.__setitem__(i, flight))
        return found, mine, theirs

    def _fetch_led(self, mine: list[int]) -> dict[int, bytes]:
        """Fetches the blocks this call leads, with the uncached rest of their read units (not
        already on their way), which are cached and counted as read ahead."""
        ahead = []
        for i in sorted(self._units(set(mine)) - set(mine)):
            if self._cache.flights.begin(self._key(i))[1]:  # not already on its way
                ahead.append(i)
        with phase("store"):
            fetched = self._fetch(sorted(mine + ahead))
        if ahead:
            sizes = {i: len(fetched[i]) for i in ahead}
            self._cache.counters.inc("read_ahead_bytes", sum(sizes.values()))
            if self.on_read_ahead is not None:
                self.on_read_ahead(self.namespace, sizes)
        return {i: fetched[i] for i in mine}

    def _fetch(self, indices: list[int]) -> dict[int, bytes]:
        """Fetch blocks this caller leads, one request per run; always ends every flight. Each
        run's blocks are cached and handed to the reads waiting for them as soon as it lands: a
        read waiting on one block of a many-run fetch waits for that block's run, not for the
        slowest."""
        runs = block_runs(indices)
        fetched: dict[int, bytes] = {}
        error: BaseException | None = None
        try:
            if len(runs) == 1:
                self._land(self._fetch_run(*runs[0]), fetched)
            else:
                futures = [_io_pool().submit(self._fetch_run, *run) for run in runs]
                try:
                    for future in concurrent.futures.as_completed(
                            futures, timeout=self._cache.wait_timeout):
                        self._land(future.result(), fetched)
                except concurrent.futures.TimeoutError:
                    raise StoreTimeout("the store did not deliver the data in time") from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            for i in indices:
                if i not in fetched:
                    self._cache.flights.end(self._key(i), None, error or StoreTimeout())
        return fetched

    def _land(self, run: dict[int, bytes], fetched: dict[int, bytes]) -> None:
        """A run's blocks into the cache, then to the reads waiting for them (their flights
        end here, so `fetched` has them only once they did)."""
        try:
            self._cache.set_many({self._key(i): data for i, data in run.items()})
        finally:
            for i, data in run.items():
                self._cache.flights.end(self._key(i), data, None)
                fetched[i] = data

    def _fetch_run(self, first: int, last: int) -> dict[int, bytes]:
        counters = self._cache.counters
        counters.inc("block_runs")
        if first == self._last_run_end:
            counters.inc("block_runs_sequential")
        self._last_run_end = last + 1
        start, _ = self._span(first)
        last_start, last_length = self._span(last)
        data = self.reader.read(start, last_start + last_length - start)
        return {i: data[(i - first) * self.block_size:(i - first + 1) * self.block_size]
                for i in range(first, last + 1)}
