"""Whether a prefetch job may run: demand first, then the session's byte budget, the shared
lease (one worker of several does a piece of work) and the store request rate."""

import threading
from typing import Callable

from ..caches.memcached import MemcachedTier, memcached_key


class RateLimiter:
    """A token bucket of store requests per minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float]):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 6.0)  # at most ten seconds' worth at once
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if n > self.tokens:
                return False
            self.tokens -= n
            return True


class DemandGate:
    """Counts the demand requests in flight; prefetch work waits for a pause in them."""

    def __init__(self, lock: threading.Lock):
        self._lock = lock
        self.in_flight = 0
        self._paused = threading.Condition(lock)

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def ended(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._paused.notify_all()

    def wait_for_pause(self, timeout: float) -> bool:
        """True once no demand request is in flight; False if none paused within `timeout`."""
        with self._lock:
            return self._paused.wait_for(lambda: self.in_flight == 0, timeout=timeout)


class Leases:
    """With a shared memcached, a lease is granted to one worker only, the first to ask within
    its seconds (a block run to fetch, a tile to render, a zoom frame to predict); without
    one, always."""

    def __init__(self, shared: MemcachedTier | None):
        self.shared = shared

    def take(self, kind: str, name: str, seconds: int) -> bool:
        return self.shared is None or self.shared.add(memcached_key(kind, name), b"1",
                                                      expire=seconds)
