"""Stores and range readers: the bottom of the data path. `open_store` picks one by URL."""

import urllib.parse

from ..counters import Counters
from ..settings import Settings
from .base import ObjectInfo, Page, RangeReader, Store, Version
from .callback import CallbackStore, Resolver
from .http_reader import ReaderOptions
from .http_store import HTTPStore
from .local import FileStore
from .s3 import S3Store

__all__ = ["ObjectInfo", "Page", "RangeReader", "Store", "Version", "open_store",
           "reader_options"]


def reader_options(settings: Settings) -> ReaderOptions:
    return ReaderOptions(connect_timeout=settings.store_connect_timeout,
                         read_timeout=settings.store_read_timeout,
                         retries=settings.store_retries,
                         probe_bytes=settings.block_size)


def open_store(settings: Settings, counters: Counters, resolve: Resolver | None = None) -> Store:
    """The store named by `settings.store`, or the host's `resolve` callback when given."""
    options = reader_options(settings)
    if resolve is not None:
        return CallbackStore(resolve, pool_size=settings.store_pool_size, options=options,
                             counters=counters)
    url = urllib.parse.urlsplit(settings.store)
    if url.scheme == "file":
        return FileStore(urllib.parse.unquote(url.path), counters)
    if url.scheme == "s3":
        return S3Store(url.netloc, url.path, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region, presign_expires=settings.presign_expires,
                       pool_size=settings.store_pool_size, options=options, counters=counters)
    if url.scheme in ("http", "https"):
        return HTTPStore(settings.store, pool_size=settings.store_pool_size, options=options,
                         counters=counters)
    raise ValueError(f"WSI_STORE: unsupported store URL {settings.store!r} "
                     "(use file://, s3://, http:// or https://)")
