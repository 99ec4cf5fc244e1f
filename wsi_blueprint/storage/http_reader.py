"""Range reads over HTTP(S): the one way bytes leave S3, an HTTP server or a signed URL.

Every read is a `GET` with `Range` on a pooled keep-alive session. The reader insists on a 206
whose Content-Range matches what it asked for; a server that answers 200 with the whole object
is caught from the headers and its body is never read. The object's version (ETag, or
Last-Modified) is fixed when the reader opens and enforced on every read, so an object replaced
while open raises `ObjectChanged` instead of mixing bytes of two files. Bodies stream: a read's
bytes go up as they arrive. Failures that may pass (5xx, timeouts, resets, short bodies) are
retried with exponential backoff and full jitter, asking only for the bytes not yet in.
"""

import dataclasses
import datetime
import email.utils
import random
import re
import time
from typing import Callable, Iterator, Mapping

import requests
import requests.adapters

from ..counters import Counters
from ..errors import (ObjectChanged, SlideNotFound, StoreError, StoreTimeout, StoreUnavailable,
                      UnsupportedFormat, WSIError)
from .base import RangeReader, Store, Version
from .reachability import REACHABILITY, reason_of

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_CHUNK = 64 * 1024

# Called with refresh=False for the current URL, refresh=True after the store refused it
# (an expired presigned URL): the provider signs a new one.
URLProvider = Callable[[bool], str]
# Turns the start of a 404's body into the error to raise: a store whose 404 may mean more
# than a missing object (S3's missing bucket) says so; None means the object is missing.
NotFoundReason = Callable[[bytes], "WSIError | None"]
_NOT_FOUND_BODY = 4096  # enough for an S3 error document


@dataclasses.dataclass(frozen=True)
class ReaderOptions:
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    retries: int = 3
    backoff_base: float = 0.1
    backoff_cap: float = 2.0
    probe_bytes: int = 256 * 1024  # read with the open, handed to the block cache as `head`


def new_session(pool_size: int) -> requests.Session:
    """A keep-alive session whose pool holds `pool_size` connections per host."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=pool_size,
                                            max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Retry(Exception):
    """A failure worth another attempt; carries the error to raise when attempts run out."""

    def __init__(self, error: StoreError):
        super().__init__(error.message)
        self.error = error


def _unmodified_since(modified: str | None) -> dict[str, str]:
    """The condition refusing an object modified after a listing's time (ISO 8601), with a
    second's slack: a listing's time has a fraction that a store may round either way in its
    Last-Modified. None for no time, or an ETag standing in for it."""
    try:
        listed = datetime.datetime.fromisoformat(modified or "")
    except ValueError:
        return {}
    if listed.tzinfo is None:
        return {}
    since = listed.astimezone(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    return {"If-Unmodified-Since": email.utils.format_datetime(since, usegmt=True)}


class HTTPRangeReader(RangeReader):
    def __init__(self, slide_id: str, url: URLProvider, session: requests.Session,
                 options: ReaderOptions, counters: Counters,
                 not_found: NotFoundReason | None = None, known: Version | None = None):
        self.slide_id = slide_id
        self._url = url
        self._not_found = not_found
        self._session = session
        self._options = options
        self._counters = counters
        if known is None:
            self.etag = ""
            self._validators: dict[str, str] = {}
            self.size = -1
            self.head = self._open()
        else:
            self.etag, self.size = known.etag, known.size
            self._validators = dict(known.validators) or _unmodified_since(known.modified)

    # -- opening: one ranged GET gives the size, the version and the first bytes ----------

    def _open(self) -> bytes:
        return b"".join(self._ranged(0, self._options.probe_bytes - 1, opening=True))

    def version(self) -> Version:
        return Version(self.size, self.etag, tuple(self._validators.items()))

    def _check_version(self, headers: Mapping[str, str]) -> None:
        """The first answer fixes the version every later one must match."""
        etag = headers.get("ETag", "")
        if self.etag:
            if etag and self.etag.startswith(('"', "W/")) and etag != self.etag:
                raise ObjectChanged(f"slide {self.slide_id!r} changed while open")
            return
        modified = headers.get("Last-Modified", "")
        if etag and not etag.startswith("W/"):
            self._validators = {"If-Match": etag}
        elif modified:
            self._validators = {"If-Unmodified-Since": modified}
        self.etag = etag or modified or f"size-{self.size}"

    # -- reads: the bytes of one range, whole or as they arrive ----------------------------

    def _read(self, offset: int, length: int) -> bytes:
        return b"".join(self._ranged(offset, offset + length - 1))

    def _stream(self, offset: int, length: int) -> Iterator[bytes]:
        return self._ranged(offset, offset + length - 1)

    # -- one logical read, with retries ----------------------------------------------------

    def _ranged(self, start: int, end: int, *, opening: bool = False) -> Iterator[bytes]:
        """Bytes `start`..`end` as they arrive, over as many attempts as the retry policy
        allows; an attempt after one that broke mid-body asks only for the bytes still due."""
        refreshed = False
        attempt = 0
        while True:
            try:
                for chunk in self._attempt(start, end, opening=opening, refresh=refreshed):
                    start += len(chunk)
                    yield chunk
                return
            except _Expired:
                if refreshed:
                    raise StoreError(f"the store refused access to {self.slide_id!r}") from None
                refreshed = True
                self._counters.inc("store_resigns")
            except _Retry as retry:
                self._counters.inc("store_errors", kind=retry.error.code)
                if attempt >= self._options.retries:
                    raise retry.error from None
                attempt += 1
                self._counters.inc("store_retries")
                cap = min(self._options.backoff_cap, self._options.backoff_base * 2 ** attempt)
                time.sleep(random.uniform(0, cap))

    def _attempt(self, start: int, end: int, *, opening: bool,
                 refresh: bool) -> Iterator[bytes]:
        options = self._options
        # identity: a compressed body would not match the Content-Range it answers.
        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity",
                   **self._validators}
        url = self._url(refresh)
        self._counters.inc("store_requests")
        began = time.monotonic()
        try:
            response = self._session.get(url, headers=headers, stream=True,
                                         timeout=(options.connect_timeout, options.read_timeout))
        except requests.ConnectTimeout:
            REACHABILITY.failed(url, "connection timed out")
            raise _Retry(StoreTimeout("the store did not answer in time")) from None
        except requests.Timeout:
            raise _Retry(StoreTimeout("the store did not answer in time")) from None
        except requests.ConnectionError as exc:
            REACHABILITY.failed(url, reason_of(exc))
            raise _Retry(StoreUnavailable("the store could not be reached")) from None
        except requests.RequestException:
            raise _Retry(StoreUnavailable("the store could not be reached")) from None
        REACHABILITY.answered(url)
        with response:
            expected = self._check_status(response, start, end, opening)
            self._check_version(response.headers)
            deadline = began + options.connect_timeout + options.read_timeout
            received = 0
            try:
                for chunk in self._body(response, expected, deadline):
                    received += len(chunk)
                    yield chunk
            finally:
                self._counters.inc("store_bytes", received)
                self._counters.inc("store_seconds", time.monotonic() - began)

    def _check_status(self, response: requests.Response, start: int, end: int,
                      opening: bool) -> int:
        """Validate status and headers before any body is read; return the body length due."""
        status = response.status_code
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or match.group(3) == "*":
                raise _Retry(StoreError("the store sent a 206 without a usable Content-Range"))
            got_start, got_end, total = (int(g) for g in match.groups())
            if opening:
                self.size = total
            elif total != self.size:
                raise ObjectChanged(f"slide {self.slide_id!r} changed size while open")
            if got_start != start or got_end != min(end, total - 1):
                raise _Retry(StoreError("the store sent a different range than asked for"))
            return got_end - got_start + 1
        if status == 200:
            # The server ignored Range. Accept it only when the whole object is what we asked
            # for anyway; never stream a whole slide to find one tile.
            length = response.headers.get("Content-Length")
            if start == 0 and length is not None and int(length) <= end + 1:
                if opening:
                    self.size = int(length)
                elif int(length) != self.size:
                    raise ObjectChanged(f"slide {self.slide_id!r} changed size while open")
                return int(length)
            raise StoreError("the store does not honour Range requests")
        if status == 404:
            reason = None
            if self._not_found is not None:
                reason = self._not_found(next(response.iter_content(_NOT_FOUND_BODY), b""))
            raise reason or SlideNotFound(f"no slide {self.slide_id!r}")
        if status in (412, 416) and not opening:
            raise ObjectChanged(f"slide {self.slide_id!r} changed while open")
        if status == 416:
            raise UnsupportedFormat(f"slide {self.slide_id!r} is empty")
        if status in (401, 403):
            raise _Expired()
        if status in _RETRY_STATUSES:
            raise _Retry(StoreError(f"the store answered {status}"))
        raise StoreError(f"the store answered {status}")

    @staticmethod
    def _body(response: requests.Response, expected: int, deadline: float) -> Iterator[bytes]:
        """The body in chunks as they arrive; too many bytes, too slow or too few is a retry
        (the chunks already given are right: status, range and version were checked)."""
        received = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                received += len(chunk)
                if received > expected:
                    raise _Retry(StoreError("the store sent more bytes than asked for"))
                if time.monotonic() > deadline:
                    raise _Retry(StoreTimeout("the store sent the data too slowly"))
                yield chunk
        except requests.Timeout:
            raise _Retry(StoreTimeout("the store stalled mid-body")) from None
        except requests.RequestException:
            raise _Retry(StoreUnavailable("the connection to the store broke mid-body")) from None
        if received != expected:
            raise _Retry(StoreError(f"the store sent {received} of {expected} bytes"))


class _Expired(Exception):
    """401/403: perhaps an expired presigned URL; one fresh signature is worth a try."""


class HTTPObjectStore(Store):
    """A store whose objects are read with HTTPRangeReader (S3, a host's signed URLs): it says
    how to build one (`_reader`, with the options given), and opening and head reads follow."""

    _options: ReaderOptions

    def _reader(self, slide_id: str, options: ReaderOptions,
                known: Version | None = None) -> HTTPRangeReader:
        raise NotImplementedError

    def open(self, slide_id: str, known: Version | None = None) -> RangeReader:
        return self._reader(slide_id, self._options, known)

    def read_head(self, slide_id: str, length: int) -> bytes:
        """One GET of the first `length` bytes, not the opening probe of a whole block."""
        options = dataclasses.replace(self._options, probe_bytes=length)
        return self._reader(slide_id, options).head[:length]
