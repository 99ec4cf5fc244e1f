"""A host app's own signer: `resolve(slide_id) -> url` for URLs it already signs.

This is how GCS signed URLs, Azure SAS URLs or a LIMS that hands out download links plug in:
the host knows who may see what and how to sign; we only read ranges from what it returns.
"""

from typing import Callable

from ..counters import Counters
from ..errors import NotImplementedByStore, SlideNotFound
from ..slide_ids import validate_slide_id
from .base import Page, Version
from .http_reader import HTTPObjectStore, HTTPRangeReader, ReaderOptions, new_session

Resolver = Callable[[str], "str | None"]
Lister = Callable[[str, int, "str | None"], Page]


class CallbackStore(HTTPObjectStore):
    """`resolve` returns a URL, or None for an unknown slide; `list` is optional."""

    def __init__(self, resolve: Resolver, *, name: str = "callback", lister: Lister | None = None,
                 pool_size: int, options: ReaderOptions, counters: Counters):
        self.name = name
        self._resolve = resolve
        self._lister = lister
        self._options = options
        self._counters = counters
        self._session = new_session(pool_size)

    def _url(self, slide_id: str) -> str:
        url = self._resolve(slide_id)
        if not url:
            raise SlideNotFound(f"no slide {slide_id!r}")
        return url

    def _reader(self, slide_id: str, options: ReaderOptions,
                known: Version | None = None) -> HTTPRangeReader:
        validate_slide_id(slide_id)
        current = [self._url(slide_id)]

        def url(refresh: bool) -> str:
            if refresh:  # the store refused the URL (an expired signature): ask the host again
                current[0] = self._url(slide_id)
            return current[0]

        return HTTPRangeReader(slide_id, url, self._session, options, self._counters,
                               known=known)

    def list(self, prefix: str = "", limit: int = 100, cursor: str | None = None,
             delimiter: str | None = None) -> Page:
        if self._lister is None:
            raise NotImplementedByStore("this store cannot list its slides")
        return self._lister(prefix, limit, cursor)  # a host's lister lists flat

    def check(self) -> None:
        if self._lister is not None:
            super().check()
