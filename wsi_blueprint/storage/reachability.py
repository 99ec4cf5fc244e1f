"""Store endpoints that stopped answering, each logged once per outage, not once per request.

Every read of every viewer meets the same dead endpoint; one warning line names it (the
operator's clue) and one line says when it is back.
"""

import logging
import threading
import urllib.parse

log = logging.getLogger(__name__)


def endpoint_of(url: str) -> str:
    """`scheme://host:port` of a URL: the address without path or query (a presigned URL's
    query is a credential)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def reason_of(exc: BaseException) -> str:
    """The socket's own words ("Connection refused"), found under the HTTP client's wrapping;
    never the exception's text, which holds the URL."""
    seen = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        pending.extend(e for e in (current.__cause__, current.__context__,
                                   getattr(current, "reason", None))
                       if isinstance(e, BaseException))
    return type(exc).__name__


class Reachability:
    def __init__(self) -> None:
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, url: str, reason: str) -> None:
        endpoint = endpoint_of(url)
        with self._lock:
            if endpoint in self._down:
                return
            self._down.add(endpoint)
        log.warning("store endpoint %s is unreachable (%s); slides there fail until it is "
                    "back", endpoint, reason)

    def answered(self, url: str) -> None:
        if not self._down:  # the common case costs one truth test
            return
        endpoint = endpoint_of(url)
        with self._lock:
            if endpoint not in self._down:
                return
            self._down.discard(endpoint)
        log.warning("store endpoint %s is reachable again", endpoint)


# One per process: every store and reader of a worker shares what it learnt about endpoints.
REACHABILITY = Reachability()
