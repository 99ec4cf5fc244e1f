"""The ledger of what prefetching made, shared by workers through a real memcached."""

import threading
import time

from wsi_blueprint.caches.memcached import MemcachedTier
from wsi_blueprint.counters import Counters
from wsi_blueprint.prefetch.ledger import Ledger

ITEMS = {f"tile-{i}": 1 for i in range(12)}


class SlowReads:
    """A worker's memcached tier whose reads take `delay` longer (a loaded machine)."""

    def __init__(self, tier: MemcachedTier, delay: float):
        self.tier, self.delay = tier, delay

    def get_many(self, keys):
        time.sleep(self.delay)
        return self.tier.get_many(keys)

    def __getattr__(self, name):
        return getattr(self.tier, name)


def _tier(memcached, counters):
    return MemcachedTier([("127.0.0.1", memcached.port)], timeout=1.0, retry_after=0.5,
                         item_limit=1 << 20, counters=counters)


def test_a_settle_returns_only_once_uses_another_thread_took_are_counted(memcached):
    """Worker A made the items; worker B's viewer used them. B's background settle has taken
    the uses off its queue and waits on memcached when B settles again (a test's drain): that
    second settle returns with the uses counted, once."""
    made = Ledger(Counters(), "prefetch_tiles_used", _tier(memcached, Counters()))
    made.add("tiles", ITEMS, {"policy": "full"})
    time.sleep(0.05)  # the markers were stored without waiting for memcached's answer
    counters = Counters()
    used = Ledger(counters, "prefetch_tiles_used", SlowReads(_tier(memcached, counters), 0.3))
    used.use("tiles", list(ITEMS))
    background = threading.Thread(target=used.settle)
    background.start()
    time.sleep(0.1)  # the background settle holds the uses, waiting on its reads
    used.settle()
    assert counters.get("prefetch_tiles_used") == len(ITEMS)
    background.join(5)
    used.settle()
    assert counters.get("prefetch_tiles_used") == len(ITEMS)  # each counted once


def test_a_use_soon_after_a_worker_found_nothing_prefetched_from_the_object_counts(memcached):
    """Worker B's viewer reads from a slide nobody has prefetched from yet, and B's settle finds
    no marker for it. Worker A then prefetches from the slide, and B's viewer reads what A
    made, at once: those uses count. (B once trusted its first answer for five seconds and
    dropped the uses, which the figures then called waste.)"""
    counters = Counters()
    worker_b = Ledger(counters, "prefetch_used_bytes", _tier(memcached, counters))
    worker_b.use("slide", ["block-99"])
    worker_b.settle()  # nothing prefetched from the slide yet
    worker_a = Ledger(Counters(), "prefetch_used_bytes", _tier(memcached, Counters()))
    worker_a.add("slide", {f"block-{i}": 1000 for i in range(4)}, {"reason": "zoom_frame"})
    time.sleep(0.05)  # the markers were stored without waiting for memcached's answer
    worker_b.use("slide", ["block-0", "block-1", "block-2"])
    worker_b.settle()
    assert counters.get("prefetch_used_bytes") == 3000
    assert counters.get("prefetch_used_bytes", reason="zoom_frame") == 3000
