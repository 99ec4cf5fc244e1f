"""The shared tier over a host app's flask_caching.Cache: Redis, Valkey, memcached, a folder.

A host that already runs a cache hands it to `create_blueprint(cache=...)` in place of
WSI_MEMCACHED. Calls go straight to the cache's backend (a cachelib cache): they need no app
context, so prefetch threads make them too. Keys come hashed to short ASCII (`memcached_key`),
valid for every backend; values are bytes. Unlike MemcachedTier's, stores wait for the
backend's answer: cachelib has no fire-and-forget.

The backend's own client timeouts bound every call (for Redis, `socket_timeout` and
`socket_connect_timeout` in CACHE_OPTIONS): redis-py without them waits on a hung server for
ever, which the tier warns of once, when it is made.
"""

import logging
from typing import Any

from ..counters import Counters
from .shared import SharedTier

log = logging.getLogger(__name__)

PING_KEY = "wsi:ping"
PING_SECONDS = 60


def backend_of(cache: Any, registered: dict) -> Any:
    """The backend behind a flask_caching.Cache initialised on the app whose
    `extensions["cache"]` is `registered`; a cachelib cache is its own backend."""
    backend = registered.get(cache)
    if backend is not None:
        return backend
    if hasattr(cache, "init_app"):
        raise ValueError("cache= is a flask_caching.Cache not initialised on the app the "
                         "blueprint is registered on: call cache.init_app(app) first")
    return cache


def _unbounded(backend: Any) -> bool:
    """A redis-py client (cachelib's Redis and Valkey caches) with no socket timeout."""
    pool = getattr(getattr(backend, "_write_client", None), "connection_pool", None)
    return pool is not None and pool.connection_kwargs.get("socket_timeout") is None


class FlaskCacheTier(SharedTier):
    """`backend` is a cachelib cache (what `backend_of` gives for a flask_caching.Cache).
    Stores with no expiry of their own live for the backend's default timeout
    (CACHE_DEFAULT_TIMEOUT): the host decides how long its cache keeps things."""

    def __init__(self, backend: Any, *, retry_after: float, item_limit: int,
                 counters: Counters):
        super().__init__(retry_after=retry_after, item_limit=item_limit, counters=counters)
        self.backend = backend
        if _unbounded(backend):
            log.warning("the host cache's Redis client has no socket_timeout: a server that "
                        "hangs would hold requests for ever (set socket_timeout and "
                        "socket_connect_timeout in CACHE_OPTIONS)")

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        if not keys or self.standing_aside:
            return {}
        try:
            values = self.backend.get_many(*keys)
        except Exception as exc:  # any failure of an accelerator is a miss
            self._failed("get", exc)
            return {}
        return {key: value for key, value in zip(keys, values) if isinstance(value, bytes)}

    def set_many(self, items: dict[str, bytes], expire: int = 0) -> None:
        fitting = self._fitting(items)
        if not fitting or self.standing_aside:
            return
        try:
            self.backend.set_many(fitting, timeout=expire or None)
        except Exception as exc:
            self._failed("set", exc)

    def add(self, key: str, value: bytes, expire: int) -> bool:
        if self.standing_aside:
            return True
        try:
            if self.backend.add(key, value, timeout=expire or None):
                return True
            if self.backend.has(key):
                return False  # another caller holds the lease
        except Exception as exc:
            self._failed("add", exc)
            return True
        # Neither stored nor there: a client that reads a dead server as "not stored"
        # (python-memcached), which must not read as someone else's lease.
        self._failed("add", RuntimeError("the cache neither stored the key nor holds it"))
        return True

    def delete(self, key: str) -> bool:
        if self.standing_aside:
            return False
        try:
            return bool(self.backend.delete(key))
        except Exception as exc:
            self._failed("delete", exc)
            return False

    def unanswered(self) -> list[str]:
        """The host's cache, unless a store is answered as done: the one call every backend
        reports failure of (some memcached clients read a dead server as a miss)."""
        try:
            if self.backend.set(PING_KEY, b"1", timeout=PING_SECONDS):
                return []
        except Exception:
            pass
        return [f"the host's cache ({type(self.backend).__name__})"]
