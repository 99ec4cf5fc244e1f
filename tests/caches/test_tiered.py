"""The tiered cache with a real memcached: sharing between processes, degradation, limits."""

import json
import threading
import time

from pymemcache.client.base import Client

from wsi_blueprint.bench.services import Memcached
from wsi_blueprint.caches import MemcachedTier, TieredCache
from wsi_blueprint.caches.memcached import memcached_key
from caches.shared_tier_checks import check_lease_keeps_a_second_process_from_loading
from helpers import eventually
from wsi_blueprint.counters import Counters


def tier(memcached, counters, **kw):
    return MemcachedTier([("127.0.0.1", memcached.port)], timeout=0.2, retry_after=0.5,
                         item_limit=kw.get("item_limit", 1 << 20), counters=counters)


def stored(shared: MemcachedTier, namespace: str, key: str, timeout: float = 1.0) -> bool:
    """Stores go unanswered: memcached holds a value a moment after `set` returns, and a read
    on another connection may come before it. Waits until it is there."""
    return stored_all(shared, [memcached_key(namespace, key)], timeout)


def stored_all(shared: MemcachedTier, keys: list[str], timeout: float = 1.0) -> bool:
    return eventually(lambda: len(shared.get_many(keys)) == len(keys), timeout)


class JSONCodec:
    encode = staticmethod(lambda value: json.dumps(value).encode())
    decode = staticmethod(lambda data: json.loads(data))


def test_second_process_finds_values_in_memcached(memcached):
    a_counters, b_counters = Counters(), Counters()
    a = TieredCache("tiles", 1 << 20, a_counters, tier(memcached, a_counters))
    b = TieredCache("tiles", 1 << 20, b_counters, tier(memcached, b_counters))
    a.set("k", b"value")
    assert stored(a.shared, "tiles", "k")
    assert b.get("k") == b"value"
    assert b_counters.get("cache_hits", cache="tiles", tier="l2") == 1
    assert b.get("k") == b"value"  # now promoted to b's own process tier
    assert b_counters.get("cache_hits", cache="tiles", tier="l1") == 1


def test_a_batch_kept_in_process_first_reaches_other_processes_when_shared(memcached):
    """What a streamed store read does: each block in this process as it lands, the run to
    the shared tier in one write at its end."""
    a_counters, b_counters = Counters(), Counters()
    a = TieredCache("blocks", 1 << 20, a_counters, tier(memcached, a_counters), JSONCodec)
    b = TieredCache("blocks", 1 << 20, b_counters, tier(memcached, b_counters), JSONCodec)
    a.set_many({"k1": [1], "k2": [2]}, share=False)
    assert a.get_many(["k1", "k2"]) == {"k1": [1], "k2": [2]}
    assert not stored(a.shared, "blocks", "k1", timeout=0.1)
    a.share_many({"k1": [1], "k2": [2]})
    assert stored_all(a.shared, [memcached_key("blocks", k) for k in ("k1", "k2")])
    assert b.get_many(["k1", "k2"]) == {"k1": [1], "k2": [2]}


def test_objects_travel_through_a_codec(memcached, counters):
    a = TieredCache("metadata", 1 << 20, counters, tier(memcached, counters), JSONCodec)
    b = TieredCache("metadata", 1 << 20, counters, tier(memcached, counters), JSONCodec)
    a.set("slide", {"levels": [1, 2]})
    assert stored(a.shared, "metadata", "slide")
    assert b.get("slide") == {"levels": [1, 2]}


def test_items_over_the_memcached_limit_stay_in_process(memcached, counters):
    a = TieredCache("blocks", 1 << 22, counters, tier(memcached, counters, item_limit=64 * 1024))
    b = TieredCache("blocks", 1 << 22, counters, tier(memcached, counters))
    a.set("big", b"x" * 100_000)
    a.set("small", b"x")  # stored after "big" would have been, on the same connection
    assert stored(a.shared, "blocks", "small")
    assert a.get("big") is not None and b.get("big") is None
    assert counters.get("memcached_oversize") == 1


def test_values_larger_than_a_receive_come_back_whole(memcached, counters):
    """Blocks span many socket receives; sixteen in one get_many arrive intact and in place."""
    shared = tier(memcached, counters)
    blocks = {f"block{i}": bytes([i]) * (256 * 1024 - i) for i in range(16)}
    shared.set_many(blocks)
    assert stored_all(shared, list(blocks))
    assert shared.get_many(list(blocks)) == blocks


def test_memcached_killed_mid_test_degrades_to_misses_and_recovers(memcached, counters):
    cache = TieredCache("blocks", 1 << 20, counters, tier(memcached, counters))
    cache.set("before", b"1")
    memcached.stop()
    began = time.monotonic()
    for i in range(50):
        cache.set(f"k{i}", b"v")
        assert cache.get(f"k{i}") == b"v"  # the process tier still serves
        assert cache.get(f"other{i}") is None  # and a shared miss is just a miss
    assert time.monotonic() - began < 5  # no call waits on the dead server for long
    assert counters.get("memcached_errors") >= 1
    memcached.start()
    time.sleep(0.6)
    fresh = Counters()
    other = TieredCache("blocks", 1 << 20, fresh, tier(memcached, fresh))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cache.set("after", b"2")
        if other.get("after") == b"2":
            break
        time.sleep(0.2)
    assert other.get("after") == b"2"


def test_unreachable_memcached_from_the_start_never_fails_a_call(counters):
    dead = MemcachedTier([("127.0.0.1", 1)], timeout=0.1, retry_after=1, item_limit=1 << 20,
                         counters=counters)
    cache = TieredCache("tiles", 1 << 20, counters, dead)
    cache.set("a", b"1")
    assert cache.get("a") == b"1" and cache.get("b") is None
    assert not dead.ping()


def test_concurrent_misses_load_once(counters):
    cache = TieredCache("metadata", 1 << 20, counters)
    loads = []

    def load():
        loads.append(1)
        time.sleep(0.2)
        return b"parsed"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("s", load)))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and results == [b"parsed"] * 20


def test_lease_keeps_a_second_process_from_loading_the_same_key(memcached):
    check_lease_keeps_a_second_process_from_loading(lambda c: tier(memcached, c))


def _second_loads_behind(memcached, first_load, item_limit: int = 1 << 20):
    """Two processes ask for one missing key with a lease of ten seconds, the second while the
    first's `first_load` runs: (what each got or raised, the second's load count, the seconds
    the second took)."""
    caches = [TieredCache("metadata", 1 << 20, c, tier(memcached, c, item_limit=item_limit))
              for c in (Counters(), Counters())]
    started, got, loads = threading.Event(), {}, []

    def load():
        started.set()
        return first_load()

    def first():
        try:
            got["first"] = caches[0].get_or_load("slide", load, lease_seconds=10)
        except OSError as exc:
            got["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(5)
    began = time.monotonic()
    got["second"] = caches[1].get_or_load("slide", lambda: loads.append(1) or b"index",
                                          lease_seconds=10)
    took = time.monotonic() - began
    thread.join(5)
    return got, len(loads), took


def test_a_failed_load_gives_up_its_lease_and_the_waiting_process_loads_at_once(memcached):
    def failing():
        time.sleep(0.3)
        raise OSError("the store went away")

    got, loads, took = _second_loads_behind(memcached, failing)
    assert isinstance(got["first"], OSError) and got["second"] == b"index" and loads == 1
    assert took < 2  # not the ten seconds of the lease


def test_a_value_the_tier_cannot_hold_gives_up_its_lease_too(memcached):
    """Too large for memcached (or evicted at once): the waiting process loads it itself."""
    got, loads, took = _second_loads_behind(memcached, lambda: time.sleep(0.3) or b"x" * 4096,
                                            item_limit=2048)
    assert got == {"first": b"x" * 4096, "second": b"index"} and loads == 1
    assert took < 2


def test_undecodable_shared_values_are_misses(memcached, counters):
    class Strict:
        encode = staticmethod(lambda value: value)

        @staticmethod
        def decode(data):
            raise ValueError("written by another version")

    writer = TieredCache("metadata", 1 << 20, counters, tier(memcached, counters))
    reader = TieredCache("metadata", 1 << 20, counters, tier(memcached, counters), Strict)
    writer.set("slide", b"old format")
    assert stored(writer.shared, "metadata", "slide")
    assert reader.get("slide") is None
    assert counters.get("cache_decode_errors", cache="metadata") == 1


def test_a_lease_on_a_failing_memcached_does_not_wait(memcached, counters):
    cache = TieredCache("metadata", 1 << 20, counters, tier(memcached, counters))
    memcached.stop()
    cache.get("warm-up")  # the first failure: the tier stands aside from now on
    began = time.monotonic()
    assert cache.get_or_load("slide", lambda: b"index", lease_seconds=10) == b"index"
    assert time.monotonic() - began < 1


def test_a_read_right_after_a_store_is_not_held_back(memcached, counters):
    """Stores go unanswered; a read sent right behind one on the same pooled connection must
    not wait for the server's delayed ACK (40 ms each with Nagle's algorithm on: 25 rounds
    would take a second, against a few milliseconds)."""
    shared = tier(memcached, counters)
    started = time.monotonic()
    for i in range(25):
        shared.set_many({f"k{i}": b"v" * 100})
        assert shared.get_many([f"k{i}"]) == {f"k{i}": b"v" * 100}
    assert time.monotonic() - started < 0.5


def test_keys_spread_over_several_memcached_servers(counters):
    """With two servers each key lives on one of them, chosen the same way by every client
    (so that workers and hosts find each other's values), about half on each."""
    servers = [Memcached().start(), Memcached().start()]
    try:
        addresses = [("127.0.0.1", server.port) for server in servers]
        writer = MemcachedTier(addresses, timeout=0.5, retry_after=0.5, item_limit=1 << 20,
                               counters=counters)
        reader = MemcachedTier(addresses, timeout=0.5, retry_after=0.5, item_limit=1 << 20,
                               counters=counters)
        keys = [f"wsi:tiles:{i}" for i in range(200)]
        writer.set_many({key: key.encode() for key in keys})
        deadline = time.monotonic() + 1
        while len(found := reader.get_many(keys)) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert found == {key: key.encode() for key in keys}
        held = [len(Client(address).get_many(keys)) for address in addresses]
        assert sum(held) == 200
        assert min(held) >= 60
    finally:
        for server in servers:
            server.stop()


def test_fill_stores_without_a_lookup_and_a_get_or_load_meanwhile_waits_for_it(memcached):
    counters = Counters()
    cache = TieredCache("tiles", 1 << 20, counters, tier(memcached, counters))
    started, release, loads = threading.Event(), threading.Event(), []

    def render() -> bytes:
        loads.append("fill")
        started.set()
        release.wait(5)
        return b"rendered"

    filler = threading.Thread(target=cache.fill, args=("k", render))
    filler.start()
    assert started.wait(5)
    found = []
    asker = threading.Thread(target=lambda: found.append(
        cache.get_or_load("k", lambda: loads.append("demand") or b"again")))
    asker.start()
    deadline = time.monotonic() + 5  # until the demand request has missed (fill looks nothing up)
    while counters.get("cache_misses", cache="tiles") < 1 and time.monotonic() < deadline:
        time.sleep(0.002)
    release.set()  # the render is still under way: the demand request joins its flight
    filler.join(5)
    asker.join(5)
    assert found == [b"rendered"] and loads == ["fill"]
    assert counters.get("cache_misses", cache="tiles") == 1
    assert stored(cache.shared, "tiles", "k")  # and it reached memcached for other workers
