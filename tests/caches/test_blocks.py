"""Block-aligned reads: rounding, coalescing into one request per run, single flight, blocks
landing as their bytes stream in."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from helpers import eventually, make_settings
from wsi_blueprint import timing
from wsi_blueprint.caches import BlockReader, Caches
from wsi_blueprint.caches.blocks import Fetched, block_runs, split_blocks
from wsi_blueprint.counters import Counters
from wsi_blueprint.errors import CorruptSlide
from wsi_blueprint.storage import open_store

BLOCK = 4096
DATA = bytes(range(251)) * 1000  # 251000 bytes, not a multiple of the block size


@pytest.fixture
def blocks(tmp_path, counters):
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    store = open_store(settings, counters)
    reader = store.open("s.bin")
    return BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK,
                       f"{store.name}|s.bin|{reader.etag}")


def test_a_read_over_several_missing_blocks_is_one_aligned_request(blocks, counters):
    assert blocks.read(5000, 10000) == DATA[5000:15000]
    assert counters.get("store_requests") == 1
    assert counters.get("store_bytes") == 3 * BLOCK  # blocks 1..3 rounded out: 4096..16383
    assert blocks.read(6000, 100) == DATA[6000:6100]
    assert counters.get("store_requests") == 1


def test_only_missing_blocks_are_fetched(blocks, counters):
    blocks.read(BLOCK * 2, 10)
    counters_before = counters.get("store_bytes")
    blocks.read(BLOCK, 3 * BLOCK)  # blocks 1, 2, 3: block 2 is cached
    assert counters.get("store_requests") == 3  # block 2, then block 1 and block 3 apart
    assert counters.get("store_bytes") - counters_before == 2 * BLOCK


def test_read_many_coalesces_adjacent_ranges_and_keeps_order(blocks, counters):
    ranges = [(40_000, 10), (100, 50), (4090, 20), (250_990, 10)]
    assert blocks.read_many(ranges) == [DATA[o:o + n] for o, n in ranges]
    assert counters.get("store_requests") == 3  # blocks 0-1, 9, 61


@pytest.fixture
def unit_blocks(blocks):
    """`blocks` reading in units of four blocks, with its read-ahead reports."""
    reports = []
    blocks.read_size = lambda: 4 * BLOCK
    blocks.on_read_ahead = lambda namespace, sizes: reports.append(sizes)
    blocks.reports = reports
    return blocks


def test_reads_are_rounded_out_to_the_read_unit_and_the_rest_is_cached(unit_blocks, counters):
    # Like the tile rows of one screen: a few blocks apart, in one unit (blocks 4-7).
    assert unit_blocks.read_many([(4 * BLOCK + 10, 100), (6 * BLOCK + 10, 100)]) == [
        DATA[4 * BLOCK + 10:4 * BLOCK + 110], DATA[6 * BLOCK + 10:6 * BLOCK + 110]]
    assert counters.get("store_requests") == 1
    assert unit_blocks.reports == [{5: BLOCK, 7: BLOCK}]  # fetched beyond the blocks asked
    assert counters.get("store_bytes") == 4 * BLOCK
    assert counters.get("read_ahead_bytes") == 2 * BLOCK
    assert unit_blocks.read(5 * BLOCK, 3 * BLOCK) == DATA[5 * BLOCK:8 * BLOCK]
    assert counters.get("store_requests") == 1  # the next screen's rows were read ahead


def test_read_units_fetch_only_uncached_blocks_and_stop_at_the_end(unit_blocks, counters):
    unit_blocks.read(9 * BLOCK, 10)  # unit 8-11, its other blocks landing in the background
    assert eventually(lambda: unit_blocks.plan([10, 13]) == ([13], [12, 14, 15]))
    last = (len(DATA) - 1) // BLOCK  # 61, in the unit 60-63 that the object ends in
    assert unit_blocks.read(len(DATA) - 5, 5) == DATA[-5:]
    assert unit_blocks.reports[-1] == {60: BLOCK}
    assert unit_blocks.plan([last]) == ([], [])
    assert counters.get("store_bytes") == 4 * BLOCK + BLOCK + len(DATA) - last * BLOCK


def test_last_short_block_and_bounds(blocks):
    assert blocks.read(len(DATA) - 5, 5) == DATA[-5:]
    with pytest.raises(CorruptSlide):
        blocks.read(len(DATA) - 5, 6)
    with pytest.raises(CorruptSlide):
        blocks.read(-1, 2)


def test_concurrent_threads_reading_one_block_make_one_request(tmp_path, counters):
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    store = open_store(settings, counters)
    reader = store.open("s.bin")
    slow_read = reader._read
    gate = threading.Event()

    def gated(offset, length):
        gate.wait(5)
        return slow_read(offset, length)

    reader._read = gated
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")
    results = []
    threads = [threading.Thread(target=lambda: results.append(blocks.read(9000, 100)))
               for _ in range(16)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert results == [DATA[9000:9100]] * 16 and counters.get("store_requests") == 1


def test_waiting_for_a_block_another_reader_fetches_counts_as_store_time(tmp_path, counters):
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    reader = open_store(settings, counters).open("s.bin")
    slow_read, started, gate = reader._read, threading.Event(), threading.Event()

    def gated(offset, length):
        started.set()
        gate.wait(5)
        return slow_read(offset, length)

    reader._read = gated
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")
    records = {}

    def timed_read(name):
        token = timing.begin()
        blocks.read(9000, 100)
        records[name] = timing.end(token)

    leader = threading.Thread(target=timed_read, args=("leader",))
    leader.start()
    assert started.wait(5)
    follower = threading.Thread(target=timed_read, args=("follower",))
    follower.start()
    time.sleep(0.05)  # the follower is waiting for the leader's flight
    gate.set()
    leader.join()
    follower.join()
    assert counters.get("store_requests") == 1
    assert records["leader"]["store"] >= 0.04
    assert records["follower"]["store"] >= 0.04


def test_fetch_leaves_blocks_another_read_is_fetching_and_says_what_it_fetched(tmp_path,
                                                                              counters):
    """Prefetching fetches with `fetch`: blocks already cached or on their way for a viewer's
    read are neither fetched again nor waited for, and only what it fetched is reported (a
    block the viewer fetched is not the prefetcher's, used or not), with the store requests
    it made: the viewer's block in flight splits what was one run when the plan was made."""
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    reader = open_store(settings, counters).open("s.bin")
    plain_read, started, gate = reader._read, threading.Event(), threading.Event()

    def gated(offset, length):
        if offset == 2 * BLOCK:  # the viewer's read of block 2 is slow
            started.set()
            gate.wait(5)
        return plain_read(offset, length)

    reader._read = gated
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")
    blocks.read(0, 10)  # block 0 cached
    assert block_runs(blocks.plan([0, 1, 2, 3])[0]) == [(1, 3)]  # one request, planned now
    viewer = threading.Thread(target=blocks.read, args=(2 * BLOCK, 10))
    viewer.start()
    assert started.wait(5)
    began = time.monotonic()
    assert blocks.fetch([0, 1, 2, 3]) == Fetched([1, 3], 2)
    assert time.monotonic() - began < 1  # did not wait for the viewer's block 2
    gate.set()
    viewer.join()
    assert blocks.fetch([0, 1, 2, 3]) == Fetched([], 0)
    assert counters.get("store_requests") == 4  # blocks 0, 2, then 1 and 3 apart
    assert blocks.read_many([(0, 4 * BLOCK)]) == [DATA[:4 * BLOCK]]


def test_a_read_waiting_on_one_run_of_a_fetch_gets_it_before_the_slowest_run(tmp_path,
                                                                            counters):
    """A fetch of several runs (a prefetched zoom frame's rows) hands each run's blocks to the
    reads waiting for them when that run lands, not when the slowest one does."""
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    reader = open_store(settings, counters).open("s.bin")
    plain_read, gate = reader._read, threading.Event()

    def gated(offset, length):
        if offset == 5 * BLOCK:  # block 5's run is slow
            gate.wait(5)
        return plain_read(offset, length)

    reader._read = gated
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")
    prefetch = threading.Thread(target=blocks.fetch, args=([1, 5],))
    prefetch.start()
    time.sleep(0.05)  # both runs on their way
    began = time.monotonic()
    assert blocks.read(BLOCK, 10) == DATA[BLOCK:BLOCK + 10]  # waits on the fetch's block 1
    assert time.monotonic() - began < 1 and prefetch.is_alive()
    gate.set()
    prefetch.join()
    assert counters.get("store_requests") == 2
    assert blocks.read(5 * BLOCK, 10) == DATA[5 * BLOCK:5 * BLOCK + 10]


def test_a_failed_fetch_fails_its_waiters_and_is_tried_again_later(blocks, counters):
    real = blocks.reader._read
    blocks.reader._read = lambda o, n: (_ for _ in ()).throw(OSError("disk gone"))
    with pytest.raises(OSError):
        blocks.read(0, 10)
    blocks.reader._read = real
    assert blocks.read(0, 10) == DATA[:10]


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import sys, gevent
    sys.path.insert(0, sys.argv[3])
    from helpers import make_settings
    from wsi_blueprint.caches import BlockReader, Caches
    from wsi_blueprint.counters import Counters
    from wsi_blueprint.storage import open_store

    counters = Counters()
    settings = make_settings(store="s3://" + sys.argv[2], s3_endpoint_url=sys.argv[1],
                             block_size=65536)
    store = open_store(settings, counters)
    reader = store.open("slide.bin")
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks, 65536, "ns")
    opened = counters.get("store_requests")
    jobs = [gevent.spawn(blocks.read, 200_000, 300_000) for _ in range(100)]
    gevent.joinall(jobs, timeout=30)
    expected = bytes(range(256)) * 4096
    assert all(j.value == expected[200_000:500_000] for j in jobs), "wrong bytes"
    print(counters.get("store_requests") - opened)
""")


def test_many_greenlets_missing_the_same_blocks_make_one_store_request(s3_server, s3_bucket):
    s3_server.put(s3_bucket, "slide.bin", bytes(range(256)) * 4096)
    tests_dir = __file__.rsplit("/", 2)[0]
    out = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT, s3_server.endpoint, s3_bucket,
                          tests_dir], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_split_blocks_gives_each_block_once_its_last_byte_is_in():
    consumed = []

    def pieces():
        for piece in [b"ab", b"cdefg", b"h", b"ijklmnop", b"q"]:
            consumed.append(piece)
            yield piece

    blocks = split_blocks(pieces(), [3, 3, 3, 3, 3, 2])
    assert next(blocks) == b"abc" and consumed == [b"ab", b"cdefg"]
    assert next(blocks) == b"def" and len(consumed) == 2  # already in: no piece more
    assert list(blocks) == [b"ghi", b"jkl", b"mno", b"pq"]


def slow_body(offset, length, last: threading.Event):
    """DATA's bytes one block at a time, the last block of a body of several held back until
    `last` is set, as a slow store body would."""
    for at in range(offset, offset + length, BLOCK):
        if at > offset and at + BLOCK >= offset + length:
            assert last.wait(5)
        yield DATA[at:min(at + BLOCK, offset + length)]


@pytest.fixture
def streamed(tmp_path, counters):
    """A reader whose stream is a `slow_body` held back until `gate` is set."""
    (tmp_path / "s.bin").write_bytes(DATA)
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK)
    reader = open_store(settings, counters).open("s.bin")
    reader.gate = threading.Event()
    reader._stream = lambda offset, length: slow_body(offset, length, reader.gate)
    return BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")


def test_a_read_waiting_on_a_long_fetch_gets_its_block_as_it_streams_in(streamed, counters):
    """A prefetched frame's run of many blocks hands each to the reads waiting on it as soon as
    its bytes are in, not when the whole body is."""
    prefetch = threading.Thread(target=streamed.fetch, args=([0, 1, 2, 3],))
    prefetch.start()
    time.sleep(0.05)  # the run is on its way, its last block held back
    assert streamed.read(BLOCK + 5, 10) == DATA[BLOCK + 5:BLOCK + 15]  # waits on the flight
    assert prefetch.is_alive() and counters.get("block_runs") == 1
    streamed.reader.gate.set()
    prefetch.join()
    assert streamed.read_many([(0, 4 * BLOCK)]) == [DATA[:4 * BLOCK]]
    assert counters.get("block_runs") == 1


def test_fetch_behind_returns_at_once_and_reads_meanwhile_wait_on_it(streamed, counters):
    """A file's tail fetched while its directories are walked: the call claims the blocks
    before it returns, so a read of one never asks the store again."""
    streamed.fetch_behind([1, 2, 3])  # its last block held back
    assert streamed.read(2 * BLOCK, 10) == DATA[2 * BLOCK:2 * BLOCK + 10]  # on its way
    streamed.reader.gate.set()
    assert streamed.read(3 * BLOCK, 10) == DATA[3 * BLOCK:3 * BLOCK + 10]
    assert counters.get("block_runs") == 1  # one request, the fetch's
    streamed.fetch_behind([1, 2, 3])  # all cached: nothing to fetch
    assert counters.get("block_runs") == 1


def test_fetch_behind_in_whole_units_brings_each_blocks_unit_in_one_request(streamed,
                                                                          counters):
    """A pyramid's SubIFDs fetched at once bring the same units the walk would have read:
    each block with the uncached rest of its unit, counted as read ahead; a block already on
    its way (the file's tail) is not asked again, and nor is its unit."""
    reports = []
    streamed.read_size = lambda: 4 * BLOCK
    streamed.on_read_ahead = lambda namespace, sizes: reports.append(sizes)
    streamed.fetch_behind([13], whole_units=False)  # on its way, as the tail would be
    streamed.fetch_behind([1, 9, 13], whole_units=True)  # units 0-3, 8-11, (12-15)
    streamed.reader.gate.set()
    fetched = [0, 1, 2, 3, 8, 9, 10, 11, 13]
    assert eventually(lambda: streamed.plan(fetched) == ([], []))
    assert counters.get("block_runs") == 3  # block 13, units 0-3 and 8-11
    assert reports == [{0: BLOCK, 2: BLOCK, 3: BLOCK, 8: BLOCK, 10: BLOCK, 11: BLOCK}]
    assert streamed.plan([4, 12, 14, 15]) == ([4, 12, 14, 15], [5, 6, 7])


def test_a_viewers_read_returns_once_its_own_blocks_of_a_read_unit_are_in(streamed, counters):
    """Rounded out to a read unit, a viewer's read waits for its own blocks, not the rest of
    the unit, which lands in the background and is counted as read ahead."""
    reports = []
    streamed.read_size = lambda: 4 * BLOCK
    streamed.on_read_ahead = lambda namespace, sizes: reports.append(sizes)
    token = timing.begin()
    assert streamed.read(4 * BLOCK + 5, 10) == DATA[4 * BLOCK + 5:4 * BLOCK + 15]  # unit 4-7
    assert "store" in timing.end(token)
    assert streamed.plan([5, 6, 7]) == ([7], [])  # 7 held back
    # Reported before any landed: a read of one as it lands is counted as a use.
    assert reports == [{5: BLOCK, 6: BLOCK, 7: BLOCK}]
    assert counters.get("block_runs") == 1
    streamed.reader.gate.set()
    assert eventually(lambda: streamed.plan([4, 5, 6, 7]) == ([], []))
    assert streamed.read(4 * BLOCK, 4 * BLOCK) == DATA[4 * BLOCK:8 * BLOCK]
    assert counters.get("block_runs") == 1 and counters.get("read_ahead_bytes") == 3 * BLOCK


def test_fetch_says_which_blocks_it_fetches_before_any_lands(streamed):
    """The prefetcher's ledger must know a block is prefetched before a viewer can read it."""
    told = []
    streamed.read(BLOCK, 10)
    streamed.reader.gate.set()
    assert streamed.fetch([0, 1, 2], lambda mine: told.append(
        (mine, streamed.cached([0, 1, 2])))) == Fetched([0, 2], 2)
    assert told == [([0, 2], {1})]


def test_a_run_that_breaks_mid_body_fails_only_the_blocks_not_yet_in(streamed, counters):
    def broken(offset, length):
        yield DATA[offset:offset + BLOCK]
        raise OSError("connection reset")

    streamed.reader._stream = broken
    with pytest.raises(OSError):
        streamed.fetch([0, 1, 2])
    assert streamed.plan([0, 1, 2]) == ([1, 2], [])  # block 0 landed and stays cached
    streamed.reader.gate.set()
    streamed.reader._stream = lambda o, n: iter([DATA[o:o + n]])
    assert streamed.read(BLOCK, 2 * BLOCK) == DATA[BLOCK:3 * BLOCK]


def worker(tmp_path, memcached, **settings):
    """A block reader of `s.bin` as one worker process has it: its own caches and flights, the
    memcached every worker shares. Its stream waits for `reader.gate` before each body, which
    is a `slow_body` held back until `reader.last` is set (it is, to begin with)."""
    (tmp_path / "s.bin").write_bytes(DATA)
    counters = Counters()
    settings = make_settings(store=f"file://{tmp_path}", block_size=BLOCK,
                             memcached=memcached.address, **settings)
    reader = open_store(settings, counters).open("s.bin")
    reader.gate, reader.fail, reader.asked = threading.Event(), False, []
    reader.last = threading.Event()  # holds back the last block of a body of several
    reader.last.set()

    def stream(offset, length):
        reader.asked.append((offset, length))
        assert reader.gate.wait(5)
        if reader.fail:
            raise OSError("connection reset")
        yield from slow_body(offset, length, reader.last)

    reader._stream = stream
    return BlockReader(reader, Caches.from_settings(settings, counters).blocks, BLOCK, "ns")


def test_a_block_another_worker_is_fetching_comes_from_memcached_not_the_store(tmp_path,
                                                                             memcached):
    """Two workers each serving a tile of one screen that needs the same block: one request."""
    a, b = worker(tmp_path, memcached), worker(tmp_path, memcached)
    got = {}
    first = threading.Thread(target=lambda: got.setdefault("a", a.read(5 * BLOCK + 7, 100)))
    first.start()
    assert eventually(lambda: a.reader.asked)
    second = threading.Thread(target=lambda: got.setdefault("b", b.read(5 * BLOCK + 9, 50)))
    second.start()
    time.sleep(0.1)
    assert second.is_alive() and not b.reader.asked  # waiting on a's fetch
    a.reader.gate.set()
    first.join(5), second.join(5)
    assert got == {"a": DATA[5 * BLOCK + 7:5 * BLOCK + 107],
                   "b": DATA[5 * BLOCK + 9:5 * BLOCK + 59]}
    assert not b.reader.asked
    assert b._cache.counters.get("cache_lease_waits", cache="blocks") == 1
    assert b.read(5 * BLOCK, 10) == DATA[5 * BLOCK:5 * BLOCK + 10]  # now in b's own cache
    assert not b.reader.asked


def test_a_worker_waiting_on_anothers_long_fetch_gets_its_block_as_it_streams_in(tmp_path,
                                                                               memcached):
    a, b = worker(tmp_path, memcached), worker(tmp_path, memcached)
    a.reader.gate.set()
    a.reader.last.clear()
    prefetch = threading.Thread(target=a.fetch, args=([4, 5, 6, 7],))
    prefetch.start()
    assert eventually(lambda: a.cached([5]))
    assert b.read(5 * BLOCK, 10) == DATA[5 * BLOCK:5 * BLOCK + 10]
    assert prefetch.is_alive() and not b.reader.asked  # block 7 is still on its way
    a.reader.last.set()
    prefetch.join(5)


@pytest.mark.parametrize("ending", ["failed", "evicted"])
def test_when_the_other_workers_fetch_leaves_no_block_the_waiting_worker_fetches_it(
        tmp_path, memcached, ending):
    """The other worker's fetch failed, or a full memcached evicted the block between its store
    and this worker's poll: either way it gave up its lease, and this worker fetches at once."""
    a, b = worker(tmp_path, memcached), worker(tmp_path, memcached)
    if ending == "failed":
        a.reader.fail = True
        first = threading.Thread(target=lambda: pytest.raises(OSError, a.read, 5 * BLOCK, 10))
    else:
        a._cache.shared.set_many = lambda items, expire=0: None  # every store evicted at once
        first = threading.Thread(target=a.read, args=(5 * BLOCK, 10))
    first.start()
    assert eventually(lambda: a.reader.asked)
    got = []
    second = threading.Thread(target=lambda: got.append(b.read(5 * BLOCK, 10)))
    second.start()
    time.sleep(0.05)
    b.reader.gate.set()
    assert not b.reader.asked  # waiting on a's lease
    started = time.monotonic()
    a.reader.gate.set()
    second.join(5), first.join(5)
    assert got == [DATA[5 * BLOCK:5 * BLOCK + 10]]
    assert b.reader.asked == [(5 * BLOCK, BLOCK)]
    assert time.monotonic() - started < 0.5  # not the lease's expiry


def test_a_lease_whose_worker_died_expires_and_the_block_is_fetched(tmp_path, memcached):
    a, b = worker(tmp_path, memcached), worker(tmp_path, memcached)
    assert not a._cache.lease_many([a._key(5)], 1)  # taken, and never fetched
    b.reader.gate.set()
    started = time.monotonic()
    assert b.read(5 * BLOCK, 10) == DATA[5 * BLOCK:5 * BLOCK + 10]
    assert 0.2 < time.monotonic() - started < 3
    assert b.reader.asked == [(5 * BLOCK, BLOCK)]


def test_blocks_too_large_for_memcached_are_not_leased(tmp_path, memcached):
    """Another worker could never find them there: it fetches them itself at once."""
    a, b = worker(tmp_path, memcached, memcached_item_limit="4K"), \
        worker(tmp_path, memcached, memcached_item_limit="4K")
    first = threading.Thread(target=a.read, args=(5 * BLOCK, 10))
    first.start()
    assert eventually(lambda: a.reader.asked)
    b.reader.gate.set()
    started = time.monotonic()
    assert b.read(5 * BLOCK, 10) == DATA[5 * BLOCK:5 * BLOCK + 10]
    assert time.monotonic() - started < 0.5  # not until a lease expired
    assert b.reader.asked == [(5 * BLOCK, BLOCK)]
    a.reader.gate.set()
    first.join(5)
