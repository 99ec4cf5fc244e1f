"""Everything one mounted blueprint serves from: settings, store, caches, open slides, counters.

Built once when the blueprint is registered on an app and kept in
`app.extensions["wsi_blueprint"][blueprint_name]`, as Flask extensions do.
"""

import dataclasses
from typing import Any, Callable

from flask import Request

from . import metrics
from .accounting import CostModel
from .caches import Caches
from .counters import Counters
from .formats.index import SlideIndex
from .imaging.cpu_pool import CpuPool
from .library import SlideLibrary
from .prefetch.context import CaseContextProvider, SidecarContext
from .prefetch.engine import Prefetcher, PrefetchSettings
from .prefetch.policy import parse_policies
from .prefetch.rules import load_rules
from .reader import Readers
from .settings import Settings
from .security.tokens import TokenSigner, parse_secrets
from .storage import Store, open_store

# A host app's decision whether the current user may get a token for a slide id (or prefix).
Authorize = Callable[[Request, str], bool]


@dataclasses.dataclass
class WSIState:
    settings: Settings
    counters: Counters
    store: Store
    caches: Caches
    library: SlideLibrary
    readers: Readers
    cors_options: dict
    signer: TokenSigner | None
    authorize: Authorize | None
    prefetcher: Prefetcher | None

    @classmethod
    def build(cls, settings: Settings, resolve: Callable[[str], str | None] | None = None,
              cors_options: dict | None = None, authorize: Authorize | None = None,
              case_context: CaseContextProvider | None = None,
              host_cache: Any = None) -> "WSIState":
        """`host_cache`: a cachelib cache shared by every worker, in place of WSI_MEMCACHED."""
        # Built in each worker after gevent's patching (wsgi.py patches first), so the pool
        # knows whether its threads must be gevent's native ones; each blueprint has its own.
        cpu = CpuPool(settings.cpu_threads or None, settings.cpu_timeout)
        counters = Counters()
        counters.observe(metrics.export)
        CostModel(settings.cost_per_1000_requests, settings.cost_per_gb).attach(counters)
        store = open_store(settings, counters, resolve)
        caches = Caches.from_settings(settings, counters, metadata_codec=SlideIndex,
                                      host_cache=host_cache)
        library = SlideLibrary(store, caches, counters, block_size=settings.block_size)
        readers = Readers(library, cpu)
        signer = TokenSigner(parse_secrets(settings.auth_secret)) if settings.auth_secret else None
        prefetcher = None
        if settings.prefetch:
            prefetcher = Prefetcher(
                readers, counters, PrefetchSettings(
                    session_budget=settings.prefetch_budget,
                    rate_per_minute=settings.prefetch_rate,
                    concurrency=settings.prefetch_concurrency,
                    history=settings.prefetch_history,
                    confidence=settings.prefetch_confidence,
                    burst_gap=settings.prefetch_burst_gap,
                    control_period=settings.prefetch_control_period,
                    read_size=settings.prefetch_read_size,
                    policies=tuple(parse_policies(settings.prefetch_policies))),
                rules=load_rules(settings.prefetch_rules),
                context=case_context or SidecarContext(store))
        return cls(settings, counters, store, caches, library, readers, cors_options or {}, signer,
                   authorize, prefetcher)
