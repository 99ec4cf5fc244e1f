"""The cache tiers (metadata, blocks, tiles, and the versions objects were opened at), each in
process and optionally shared."""

import dataclasses
from typing import Any

from ..counters import Counters
from ..settings import Settings
from .blocks import BlockReader
from .flask_cache import FlaskCacheTier
from .lru import ByteLRU, SegmentedLRU
from .memcached import MemcachedTier
from .shared import SharedTier
from .tiered import Codec, TieredCache

__all__ = ["BlockReader", "Caches", "Codec", "FlaskCacheTier", "MemcachedTier", "SharedTier",
           "TieredCache"]

# What opening an object saw (size and version) is a hundred bytes or so: room for many
# thousands of slides.
VERSIONS_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass
class Caches:
    metadata: TieredCache
    blocks: TieredCache
    tiles: TieredCache
    versions: TieredCache
    shared: SharedTier | None

    @classmethod
    def from_settings(cls, settings: Settings, counters: Counters,
                      metadata_codec: type = Codec, host_cache: Any = None) -> "Caches":
        """`host_cache`, a cachelib cache (a host app's flask_caching backend), is the shared
        tier in place of WSI_MEMCACHED's servers."""
        shared: SharedTier | None = None
        if host_cache is not None:
            shared = FlaskCacheTier(host_cache, retry_after=settings.memcached_retry_after,
                                    item_limit=settings.memcached_item_limit,
                                    counters=counters)
        elif servers := settings.memcached_servers():
            shared = MemcachedTier(servers, timeout=settings.memcached_timeout,
                                   retry_after=settings.memcached_retry_after,
                                   item_limit=settings.memcached_item_limit,
                                   counters=counters)
        local = {"lru": ByteLRU, "slru": SegmentedLRU}[settings.cache_policy]
        return cls(
            metadata=TieredCache("metadata", settings.metadata_cache_bytes, counters, shared,
                                 metadata_codec),
            blocks=TieredCache("blocks", settings.block_cache_bytes, counters, shared,
                               local=local),
            tiles=TieredCache("tiles", settings.tile_cache_bytes, counters, shared, local=local),
            versions=TieredCache("versions", VERSIONS_BYTES, counters, shared),
            shared=shared,
        )
