"""Checks every shared cache tier (memcached, a host's flask-caching cache) must pass alike."""

import threading
import time

from wsi_blueprint.caches.tiered import TieredCache
from wsi_blueprint.counters import Counters


def check_lease_keeps_a_second_process_from_loading(make_shared) -> None:
    """Two tiered caches over one shared store (`make_shared(counters)`) asked for the same
    missing key at once: the second waits on the first's lease and takes its value."""
    loads = []
    caches = [TieredCache("metadata", 1 << 20, c, make_shared(c))
              for c in (Counters(), Counters())]

    def load():
        loads.append(1)
        time.sleep(0.3)
        return b"index"

    results = []
    threads = [threading.Thread(target=lambda c=c: results.append(
        c.get_or_load("slide", load, lease_seconds=5))) for c in caches]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert loads == [1] and results == [b"index", b"index"]
