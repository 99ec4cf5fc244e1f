"""The three cache tiers (metadata, blocks, tiles), each in process and optionally shared."""

import dataclasses

from ..counters import Counters
from ..settings import Settings
from .blocks import BlockReader
from .lru import ByteLRU, SegmentedLRU
from .memcached import MemcachedTier
from .tiered import Codec, TieredCache

__all__ = ["BlockReader", "Caches", "Codec", "MemcachedTier", "TieredCache"]


@dataclasses.dataclass
class Caches:
    metadata: TieredCache
    blocks: TieredCache
    tiles: TieredCache
    shared: MemcachedTier | None

    @classmethod
    def from_settings(cls, settings: Settings, counters: Counters,
                      metadata_codec: type = Codec) -> "Caches":
        servers = settings.memcached_servers()
        shared = MemcachedTier(servers, timeout=settings.memcached_timeout,
                               retry_after=settings.memcached_retry_after,
                               item_limit=settings.memcached_item_limit,
                               counters=counters) if servers else None
        local = {"lru": ByteLRU, "slru": SegmentedLRU}[settings.cache_policy]
        return cls(
            metadata=TieredCache("metadata", settings.metadata_cache_bytes, counters, shared,
                                 metadata_codec),
            blocks=TieredCache("blocks", settings.block_cache_bytes, counters, shared,
                               local=local),
            tiles=TieredCache("tiles", settings.tile_cache_bytes, counters, shared, local=local),
            shared=shared,
        )
