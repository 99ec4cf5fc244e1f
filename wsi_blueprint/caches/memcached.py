"""The shared tier: memcached through pymemcache, pooled and safe under gevent.

Failures are misses and the tier stands aside after one (`SharedTier`); pymemcache takes a
server that keeps failing out of its ring. Values larger than the server's item limit are not
sent.
"""

import functools
import hashlib
import socket

from pymemcache.client import base as pymemcache_base
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.client.rendezvous import RendezvousHash

from ..counters import Counters
from .shared import SharedTier

_ITEM_OVERHEAD = 1024  # key, flags and slab header, kept clear of the server's limit

# pymemcache's own receive size takes a block in dozens of receives; one this large reads most
# tiles at once and halves the time of a get of a tile's blocks (bench.shared_tiers).
pymemcache_base.RECV_SIZE = 64 * 1024


def memcached_key(namespace: str, key: str) -> str:
    """Memcached keys are short ASCII without spaces, the strictest of every shared tier's;
    ours may be neither, so hash them."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
    return f"wsi:{namespace}:{digest}"


def _server_score(server_and_key: str, seed: int) -> int:
    """Which server holds a key (rendezvous hashing: the highest score wins), by blake2b.
    pymemcache's default, murmur3 in pure Python, took 5 % of a busy worker's CPU."""
    digest = hashlib.blake2b(server_and_key.encode(), digest_size=8,
                             salt=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little")


class MemcachedTier(SharedTier):
    kind = "memcached"

    def __init__(self, servers: list[tuple[str, int]], *, timeout: float, retry_after: float,
                 item_limit: int, counters: Counters, pool_size: int = 32):
        super().__init__(retry_after=retry_after, item_limit=item_limit - _ITEM_OVERHEAD,
                         counters=counters)
        self.servers = servers
        self._timeout = timeout
        self._client = HashClient(
            servers, connect_timeout=timeout, timeout=timeout, use_pooling=True,
            max_pool_size=pool_size, retry_attempts=1, retry_timeout=retry_after,
            dead_timeout=retry_after, ignore_exc=False, socket_module=socket,
            # Stores go unanswered (`set_many`). A read right behind one on the same
            # connection must then leave at once, not after the server's delayed ACK of the
            # store (Nagle's algorithm): that was 40 ms a request.
            default_noreply=False, no_delay=True,
            hasher=functools.partial(RendezvousHash, hash_function=_server_score))

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
        fitting = self._fitting(items)
        if not fitting or self.standing_aside:
            return
        try:
            self._client.set_many(fitting, expire=expire, noreply=True)
        except Exception as exc:
            self._failed("set", exc)

    def add(self, key: str, value: bytes, expire: int) -> bool:
        if self.standing_aside:
            return True
        try:
            return bool(self._client.add(key, value, expire=expire, noreply=False))
        except Exception as exc:
            self._failed("add", exc)
            return True

    def delete(self, key: str) -> bool:
        if self.standing_aside:
            return False
        try:
            return bool(self._client.delete(key, noreply=False))
        except Exception as exc:
            self._failed("delete", exc)
            return False

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
