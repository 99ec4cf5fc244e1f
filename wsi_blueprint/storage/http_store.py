"""`http(s)://base/`: slides under a base URL on any server that honours Range."""

import urllib.parse

import requests

from ..counters import Counters
from ..errors import NotImplementedByStore, StoreUnavailable
from ..slide_ids import validate_slide_id
from .base import Page, RangeReader, Store, Version
from .http_reader import HTTPRangeReader, ReaderOptions, new_session
from .reachability import REACHABILITY, reason_of


class HTTPStore(Store):
    def __init__(self, base_url: str, *, pool_size: int, options: ReaderOptions,
                 counters: Counters):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.name = self.base_url
        self._options = options
        self._counters = counters
        self._session = new_session(pool_size)

    def url_for(self, slide_id: str) -> str:
        return self.base_url + urllib.parse.quote(validate_slide_id(slide_id), safe="/")

    def open(self, slide_id: str, known: Version | None = None) -> RangeReader:
        url = self.url_for(slide_id)
        return HTTPRangeReader(slide_id, lambda refresh: url, self._session, self._options,
                               self._counters, known=known)

    def list(self, prefix: str = "", limit: int = 100, cursor: str | None = None,
             delimiter: str | None = None) -> Page:
        raise NotImplementedByStore("an HTTP base URL cannot list its slides")

    def check(self) -> None:
        try:
            self._session.head(self.base_url, timeout=(self._options.connect_timeout,
                                                       self._options.read_timeout))
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectionError):
                REACHABILITY.failed(self.base_url, reason_of(exc))
            raise StoreUnavailable("the slide server could not be reached") from None
        REACHABILITY.answered(self.base_url)
