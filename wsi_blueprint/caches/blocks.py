"""Block-aligned, cached reads of one open object: what the formats layer reads through.

Byte ranges are rounded out to aligned blocks. Blocks come from the block cache (process, then
memcached); the missing ones are claimed, so that a concurrent reader of the same block waits
instead of fetching it again: in this process by single flight, across processes sharing
memcached by a lease, the waiter taking the block from memcached once the leaseholder has put
it there (or fetching it itself once the lease is given up without it). They are grouped into
runs of adjacent blocks, and each run is fetched with one range request, the runs in parallel.
A run's body streams in, and each block is cached and handed to the reads waiting for it as
soon as its last byte is in.

Store reads may be rounded out further, to aligned units of `read_size` bytes (a multiple of
the block, chosen by the prefetch control loop): a unit's missing blocks come in the same
request and are cached as blocks. A viewer's screen spans several tile rows, a few hundred
kilobytes apart in the file; with units of a megabyte they are one request instead of one
each, and the next screen's rows are often in the same units already. A viewer's read returns
once its own blocks are in and leaves the rest of its units to land in the background, so a
larger unit costs it no more than the bytes before its blocks. Cache keys stay per block, so
changing the unit never orphans what is cached.
"""

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import threading
import time
from typing import Callable, Iterable, Iterator

from ..errors import CorruptSlide, StoreError, StoreTimeout
from ..storage import RangeReader
from ..timing import phase
from .single_flight import Flight, SingleFlight
from .tiered import TieredCache

# Memcached counts expiry in whole seconds. A fetch that outlasts its lease is fetched twice at
# worst.
LEASE_SECONDS = 2
# How often a read waiting on another process's fetch looks for its blocks in memcached.
LEASE_POLL = 0.005

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


@dataclasses.dataclass(frozen=True)
class Fetched:
    """What a `BlockReader.fetch` fetched itself: its blocks (not the rest of their read
    units) and the store requests it made."""

    blocks: list[int]
    requests: int


def split_blocks(pieces: Iterable[bytes], lengths: Iterable[int]) -> Iterator[bytes]:
    """A byte stream, arriving in pieces of any size, as consecutive blocks of the given
    lengths, each as soon as its last byte is in."""
    lengths = iter(lengths)
    want = next(lengths, 0)
    held = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while want and len(held) + len(view) >= want:
            take = want - len(held)
            if held:
                held += view[:take]
                yield bytes(held)
                held.clear()
            else:
                yield bytes(view[:take])
            view = view[take:]
            want = next(lengths, 0)
        held += view


class _Landing:
    """The flights one fetch leads. Each ends the moment its block lands; `close` ends those
    left with the error that stopped the fetch. A run still streaming after its fetch gave up
    (timed out) lands nothing more: its flights are over."""

    def __init__(self, flights: SingleFlight, keys: dict[int, str]):
        self._flights = flights
        self._keys = keys
        self._lock = threading.Lock()
        self._closed = False
        self.landed: dict[int, bytes] = {}

    def land(self, index: int, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self.landed[index] = data
        self._flights.end(self._keys[index], data, None)

    def close(self, error: BaseException) -> list[str]:
        """The keys of the blocks that did not land."""
        with self._lock:
            self._closed = True
            left = [i for i in self._keys if i not in self.landed]
        for i in left:
            self._flights.end(self._keys[i], None, error)
        return [self._keys[i] for i in left]


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

    def fetch(self, indices: list[int],
              claimed: Callable[[list[int]], None] | None = None) -> Fetched:
        """Fetches those of the blocks that are neither cached nor on their way already (with
        their read units' other uncached blocks) and returns, once all have landed, what this
        call fetched itself and the store requests it made: blocks another read fetches meanwhile
        split its runs, so a plan made before may count more requests or fewer. Another read's
        fetch is not waited for (warming the cache, not reading). `claimed` hears which blocks
        are this call's before any lands, so that a ledger of them counts a viewer that reads
        one as it lands."""
        _, mine, _ = self._claim(indices)
        if claimed is not None:
            claimed(list(mine))
        if not mine:
            return Fetched([], 0)
        fetching = sorted([*mine, *self._lead_read_ahead(mine)])
        with phase("store"):
            self._fetch(fetching)
        return Fetched(list(mine), len(block_runs(fetching)))

    def fetch_behind(self, indices: list[int], whole_units: bool = False) -> None:
        """Starts fetching those of the blocks that are neither cached nor on their way, as
        they are or with the rest of their read units, and returns at once: a read of one
        meanwhile waits on this fetch instead of asking the store again."""
        _, mine, _ = self._claim(indices)
        if mine:
            ahead = self._lead_read_ahead(mine) if whole_units else []
            self._fetch_in_background(sorted([*mine, *ahead]))

    def _claim(self, indices: list[int]) -> tuple[dict[int, bytes], dict[int, Flight],
                                                   dict[int, Flight]]:
        """(the cached blocks, {index: flight} of the missing ones this call now leads the
        fetch of, {index: flight} of those another request is fetching)."""
        keys = {i: self._key(i) for i in indices}
        cached = self._cache.get_many(list(keys.values()))
        found = {i: cached[k] for i, k in keys.items() if k in cached}
        led, theirs = {}, {}
        for i in indices:
            if i not in found:
                flight, leader = self._cache.flights.begin(keys[i])
                (led if leader else theirs)[i] = flight
        mine = self._lead(led)
        theirs.update({i: flight for i, flight in led.items() if i not in mine})
        return found, mine, theirs

    def _lead(self, led: dict[int, Flight]) -> dict[int, Flight]:
        """Of the blocks this process leads the fetch of, those it fetches: another process on
        the shared tier may be fetching some already (a viewer's round of tiles is shared out
        among workers). Those land in their flights from the shared tier, in the background.
        Blocks too large for the shared tier are never leased: no waiter would find them."""
        if not led or not self._leased():
            return led
        keys = {self._key(i): i for i in led}
        elsewhere = {keys[k] for k in self._cache.lease_many(list(keys), LEASE_SECONDS)}
        if elsewhere:
            threading.Thread(target=contextvars.Context().run, daemon=True,
                             args=(self._land_from_shared, sorted(elsewhere))).start()
        return {i: flight for i, flight in led.items() if i not in elsewhere}

    def _leased(self) -> bool:
        """Whether fetches of this object's blocks take leases on the shared tier."""
        shared = self._cache.shared
        return shared is not None and self.block_size <= shared.item_limit

    def _land_from_shared(self, indices: list[int]) -> None:
        """Ends the flights of blocks another process is fetching as they reach the shared
        tier. A block whose lease goes without it (that fetch failed) is fetched here."""
        keys = {self._key(i): i for i in indices}
        waiting = set(keys)
        deadline = time.monotonic() + self._cache.wait_timeout
        while waiting:
            if time.monotonic() > deadline:
                for key in waiting:
                    self._cache.flights.end(key, None, StoreTimeout(
                        "another worker did not deliver the data in time"))
                return
            time.sleep(LEASE_POLL)
            values, gone = self._cache.poll_leased(sorted(waiting))
            for key, data in values.items():
                self._cache.flights.end(key, data)
            waiting -= set(values) | gone
            if gone:
                again = self._cache.lease_many(sorted(gone), LEASE_SECONDS)
                waiting |= again
                self._fetch_quietly(sorted(keys[k] for k in gone - again))

    def _fetch_led(self, mine: dict[int, Flight]) -> dict[int, bytes]:
        """Fetches the blocks a viewer's read leads, with the uncached rest of their read units
        (not already on their way), which are cached and counted as read ahead; returns as
        soon as `mine` are in, and the rest land in the background."""
        ahead = self._lead_read_ahead(mine)
        indices = sorted([*mine, *ahead])
        with phase("store"):
            if not ahead:
                fetched = self._fetch(indices)
                return {i: fetched[i] for i in mine}
            self._fetch_in_background(indices)
            return {i: flight.wait(self._cache.wait_timeout) for i, flight in mine.items()}

    def _lead_read_ahead(self, mine: dict[int, Flight]) -> list[int]:
        """The uncached rest of the read units of the blocks this call leads, those not on
        their way already, now led by this call too and counted as read ahead."""
        around = {}
        for i in sorted(self._units(set(mine)) - set(mine)):
            flight, leader = self._cache.flights.begin(self._key(i))
            if leader:  # not already on its way
                around[i] = flight
        ahead = sorted(self._lead(around))
        if ahead:  # before any lands, so that a read of one as it lands counts as a use
            sizes = {i: self.length(i) for i in ahead}
            self._cache.counters.inc("read_ahead_bytes", sum(sizes.values()))
            if self.on_read_ahead is not None:
                self.on_read_ahead(self.namespace, sizes)
        return ahead

    def _fetch_in_background(self, indices: list[int]) -> None:
        """Fetches blocks this caller leads in a thread of their own, in a fresh context: the
        fetch is no request's time."""
        threading.Thread(target=contextvars.Context().run, daemon=True,
                         args=(self._fetch_quietly, indices)).start()

    def _fetch_quietly(self, indices: list[int]) -> None:
        """A fetch nobody waits on as a whole: its error reaches the reads through the
        flights it ends."""
        try:
            self._fetch(indices)
        except Exception:
            pass

    def _fetch(self, indices: list[int]) -> dict[int, bytes]:
        """Fetch blocks this caller leads, one request per run, the runs in parallel; always
        ends every flight, each as soon as its block lands."""
        runs = block_runs(indices)
        landing = _Landing(self._cache.flights, {i: self._key(i) for i in indices})
        try:
            if len(runs) == 1:
                self._fetch_run(*runs[0], landing)
            else:
                futures = [_io_pool().submit(self._fetch_run, *run, landing) for run in runs]
                done, pending = concurrent.futures.wait(
                    futures, self._cache.wait_timeout, concurrent.futures.FIRST_EXCEPTION)
                for future in done:
                    future.result()  # the first run's error, if one failed
                if pending:
                    raise StoreTimeout("the store did not deliver the data in time")
        except BaseException as exc:
            self._cache.drop_leases(landing.close(exc))
            raise
        return landing.landed

    def _fetch_run(self, first: int, last: int, landing: _Landing) -> None:
        """One range request for blocks `first`..`last`; each is cached, landed and shared as
        its bytes come in (another worker may be waiting for it under this fetch's lease)."""
        counters = self._cache.counters
        counters.inc("block_runs")
        if first == self._last_run_end:
            counters.inc("block_runs_sequential")
        self._last_run_end = last + 1
        start, _ = self._span(first)
        last_start, last_length = self._span(last)
        pieces = self.reader.stream(start, last_start + last_length - start)
        lengths = [self.length(i) for i in range(first, last + 1)]
        leased = self._leased()
        landed = 0
        for index, data in enumerate(split_blocks(pieces, lengths), first):
            block = {self._key(index): data}
            self._cache.set_many(block, share=False)
            landing.land(index, data)
            self._cache.share_many(block)
            if leased:
                # A full tier may evict the block before a waiting worker takes it: without
                # the lease, that worker fetches it at once instead of waiting it out.
                self._cache.drop_leases(list(block))
            landed += 1
        if landed < len(lengths):
            raise StoreError("the store sent fewer bytes than asked for")
