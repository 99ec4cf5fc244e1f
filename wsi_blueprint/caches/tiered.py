"""One cache tier: an in-process LRU (L1) over an optional shared tier (L2: memcached, or a
host app's flask_caching cache).

Values may be objects (a parsed slide index) as long as a codec turns them into bytes for
the shared tier; the L1 keeps the object and weighs it by its encoded size.
"""

import time
from typing import Any, Callable

from ..counters import Counters
from .lru import ByteLRU
from .memcached import memcached_key
from .shared import SharedTier
from .single_flight import SingleFlight


def _not_counted(*args: Any, **labels: str) -> None:
    """The tally of lookups that must not move the hit and miss counters (peeks, polls)."""


class Codec:
    """bytes in, bytes out: the default for blocks and tiles."""

    @staticmethod
    def encode(value: Any) -> bytes:
        return value

    @staticmethod
    def decode(data: bytes) -> Any:
        return data


class TieredCache:
    def __init__(self, name: str, max_bytes: int, counters: Counters,
                 shared: SharedTier | None = None, codec: type | Any = Codec,
                 wait_timeout: float = 30.0, local: type = ByteLRU):
        """`local` is the in-process cache class: ByteLRU, or SegmentedLRU to keep what is
        read again through one-off scans."""
        self.name = name
        self.local = local(max_bytes)
        self.shared = shared
        self.codec = codec
        self.flights = SingleFlight()
        self.wait_timeout = wait_timeout
        self._counters = counters

    @property
    def counters(self) -> Counters:
        return self._counters

    def _count(self, outcome: str, n: int = 1, **labels: str) -> None:
        if n:
            self._counters.inc(f"cache_{outcome}", n, cache=self.name, **labels)

    def peek_many(self, keys: list[str]) -> set[str]:
        """Which keys are cached, without counting hits or misses (for prefetch planning)."""
        return set(self.get_many(keys, count=False))

    def get_many(self, keys: list[str], *, count: bool = True) -> dict[str, Any]:
        tally = self._count if count else _not_counted
        found = {}
        for key in keys:
            value = self.local.get(key)
            if value is not None:
                found[key] = value
        tally("hits", len(found), tier="l1")
        missing = [k for k in keys if k not in found]
        if missing and self.shared is not None:
            wire = {memcached_key(self.name, k): k for k in missing}
            found.update(self._taken(wire, self.shared.get_many(list(wire)), tally))
            tally("hits", len(found) - (len(keys) - len(missing)), tier="l2")
        tally("misses", len(keys) - len(found))
        return found

    def _taken(self, wire: dict[str, str], stored: dict[str, bytes],
               tally: Callable[..., None]) -> dict[str, Any]:
        """{key: value} of the shared tier's items `stored` that `wire` ({wire key: key}) names,
        decoded and kept in this process's tier too."""
        found = {}
        for mkey, key in wire.items():
            data = stored.get(mkey)
            if data is None:
                continue
            try:
                value = self.codec.decode(data)
            except ValueError:  # written by another version of the code: a miss
                tally("decode_errors")
                continue
            self.local.set(key, value, len(data))
            found[key] = value
        return found

    def get(self, key: str) -> Any:
        value = self.local.get(key)  # the hot case, without get_many's lists
        if value is not None:
            self._count("hits", tier="l1")
            return value
        return self.get_many([key]).get(key)

    def set_many(self, items: dict[str, Any], expire: int = 0, *, share: bool = True) -> None:
        """`share=False` leaves the shared tier to a later `share_many` (a caller batching its
        shared writes)."""
        wire = {}
        for key, value in items.items():
            data = self.codec.encode(value)
            self.local.set(key, value, len(data))
            wire[memcached_key(self.name, key)] = data
        if share and self.shared is not None:
            self.shared.set_many(wire, expire)

    def share_many(self, items: dict[str, Any], expire: int = 0) -> None:
        """Writes items this process's tier already holds to the shared tier."""
        if self.shared is not None:
            self.shared.set_many({memcached_key(self.name, key): self.codec.encode(value)
                                  for key, value in items.items()}, expire)

    def set(self, key: str, value: Any, expire: int = 0) -> None:
        self.set_many({key: value}, expire)

    def get_or_load(self, key: str, load: Callable[[], Any], lease_seconds: float = 0) -> Any:
        """The cached value, or `load()` run once however many callers miss at the same time.

        With `lease_seconds`, other processes on the same shared tier are kept from loading the
        same key at once: the first takes a lease with `add`, the rest poll the tier for its
        result (for at most `lease_seconds`, then load it themselves). The first gives up its
        lease once its load is over, so that the rest load at once when its value is not in
        the tier (its load failed, or the value was too large or already evicted).
        """
        value = self.get(key)
        if value is not None:
            return value

        def leader() -> Any:
            theirs = bool(lease_seconds and self.lease_many([key], int(lease_seconds) + 1))
            if theirs:
                value = self._await_shared(key, lease_seconds)
                if value is not None:
                    return value
            try:
                value = load()
                self.set(key, value)
            finally:
                if lease_seconds and not theirs:
                    self.drop_leases([key])
            return value

        return self.flights.do(key, leader, self.wait_timeout)

    def fill(self, key: str, load: Callable[[], Any]) -> Any:
        """`load()` stored under `key` without looking it up first (what the caller knows is
        missing); a `get_or_load` of the same key meanwhile waits for it instead of loading."""

        def leader() -> Any:
            value = load()
            self.set(key, value)
            return value

        return self.flights.do(key, leader, self.wait_timeout)

    def _lease_key(self, key: str) -> str:
        return memcached_key(self.name, "lease:" + key)

    def lease_many(self, keys: list[str], seconds: int) -> "set[str]":
        """Takes the shared tier's lease on loading each key (`add`, for `seconds`): the keys
        another process holds the lease on: none without a shared tier, or while it is down."""
        if self.shared is None:
            return set()
        return {key for key in keys
                if not self.shared.add(self._lease_key(key), b"1", expire=seconds)}

    def drop_leases(self, keys: list[str]) -> None:
        """Gives up leases this process took, its loads over or never to be made: a waiter
        takes a value from the tier, or loads it itself if the tier holds none."""
        if self.shared is not None:
            for key in keys:
                self.shared.delete(self._lease_key(key))

    def poll_leased(self, keys: list[str]) -> "tuple[dict[str, Any], set[str]]":
        """For keys another process holds the lease on: the values it has stored so far (now
        in this process's tier too), and the keys whose lease is gone with no value stored
        (its load failed or it died: load them here)."""
        if self.shared is None:
            return {}, set(keys)
        wire = {memcached_key(self.name, key): key for key in keys}
        leases = {self._lease_key(key): key for key in keys}
        stored = self.shared.get_many([*wire, *leases])
        values = self._taken(wire, stored, _not_counted)
        self._count("lease_waits", len(values))
        gone = {key for lease, key in leases.items() if lease not in stored and key not in values}
        return values, gone

    def _await_shared(self, key: str, seconds: float) -> Any:
        """The value another process holds the lease on loading, once it is in the tier; None
        once the lease is gone without it, or after `seconds`."""
        deadline = time.monotonic() + seconds
        delay = 0.01
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
            values, gone = self.poll_leased([key])
            if key in values:
                return values[key]
            if gone:
                return None
        return None
