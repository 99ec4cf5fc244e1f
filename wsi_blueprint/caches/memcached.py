"""The shared tier: memcached through pymemcache, pooled and safe under gevent.

Memcached is an accelerator, never a dependency: every failure is a miss, logged at most once a
minute. After a failure the tier stands aside for `retry_after` seconds (calls are misses at no
cost), then tries again; pymemcache takes a server that keeps failing out of its ring. Standing
aside matters for leases: a failing server must read as "take the lease", not "someone else
holds it". Values larger than the server's item limit are not sent.
"""

import functools
import hashlib
import logging
import socket
import time

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.client.rendezvous import RendezvousHash

from ..counters import Counters

log = logging.getLogger(__name__)

_ITEM_OVERHEAD = 1024  # key, flags and slab header, kept clear of the server's limit
_LOG_EVERY = 60.0


def memcached_key(namespace: str, key: str) -> str:
    """Memcached keys are short ASCII without spaces; ours may be neither, so hash them."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
    return f"wsi:{namespace}:{digest}"


def _server_score(server_and_key: str, seed: int) -> int:
    """Which server holds a key (rendezvous hashing: the highest score wins), by blake2b.
    pymemcache's default, murmur3 in pure Python, took 5 % of a busy worker's CPU."""
    digest = hashlib.blake2b(server_and_key.encode(), digest_size=8,
                             salt=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little")


class MemcachedTier:
    def __init__(self, servers: list[tuple[str, int]], *, timeout: float, retry_after: float,
                 item_limit: int, counters: Counters, pool_size: int = 32):
        self.servers = servers
        self.item_limit = item_limit - _ITEM_OVERHEAD
        self._counters = counters
        self._timeout = timeout
        self._retry_after = retry_after
        self._down_until = 0.0
        self._last_warning = -_LOG_EVERY
        self._client = HashClient(
            servers, connect_timeout=timeout, timeout=timeout, use_pooling=True,
            max_pool_size=pool_size, retry_attempts=1, retry_timeout=retry_after,
            dead_timeout=retry_after, ignore_exc=False, socket_module=socket,
            # Stores go unanswered (`set_many`). A read right behind one on the same
            # connection must then leave at once, not after the server's delayed ACK of the
            # store (Nagle's algorithm): that was 40 ms a request.
            default_noreply=False, no_delay=True,
            hasher=functools.partial(RendezvousHash, hash_function=_server_score))

    @property
    def standing_aside(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self._counters.inc("memcached_errors")
        now = time.monotonic()
        self._down_until = now + self._retry_after
        if now - self._last_warning >= _LOG_EVERY:
            self._last_warning = now
            log.warning("memcached %s failed (%s: %s); serving from process caches until it "
                        "answers again", operation, type(exc).__name__, exc)

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        if not keys or self.standing_aside:
            return {}
        try:
            return self._client.get_many(keys) or {}
        except Exception as exc:  # any failure of an accelerator is a miss
            self._failed("get", exc)
            return {}

    def set_many(self, items: dict[str, bytes], expire: int = 0) -> None:
        """Stores without waiting for memcached's answer (noreply): a store that fails costs
        a later miss, and waiting cost a round trip per store. Other connections see the
        values once memcached has read them, a moment after this returns."""
        fitting = {k: v for k, v in items.items() if len(v) <= self.item_limit}
        if len(fitting) < len(items):
            self._counters.inc("memcached_oversize", len(items) - len(fitting))
        if not fitting or self.standing_aside:
            return
        try:
            self._client.set_many(fitting, expire=expire, noreply=True)
        except Exception as exc:
            self._failed("set", exc)

    def add(self, key: str, value: bytes, expire: int) -> bool:
        """Store only if absent (a lease); True when this caller got it or memcached is down,
        so that a broken memcached never stops the caller from doing the work itself."""
        if self.standing_aside:
            return True
        try:
            return bool(self._client.add(key, value, expire=expire, noreply=False))
        except Exception as exc:
            self._failed("add", exc)
            return True

    def delete(self, key: str) -> bool:
        """True only for the caller whose delete removed the key (of several at once, one)."""
        if self.standing_aside:
            return False
        try:
            return bool(self._client.delete(key, noreply=False))
        except Exception as exc:
            self._failed("delete", exc)
            return False

    def ping(self) -> bool:
        """True if every configured server answers (readiness)."""
        return not self.unanswered()

    def unanswered(self) -> list[str]:
        """`host:port` of every server that does not answer; asked on fresh connections,
        apart from the pool, so that the answer is about the servers now."""
        silent = []
        for server in self.servers:
            client = Client(server, connect_timeout=self._timeout, timeout=self._timeout,
                            socket_module=socket)
            try:
                client.version()
            except Exception:
                silent.append(f"{server[0]}:{server[1]}")
            finally:
                client.close()
        return silent
