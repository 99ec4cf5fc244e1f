"""What every shared (L2) tier does alike: it is an accelerator, never a dependency.

Every failure is a miss, logged at most once a minute. After a failure the tier stands aside
for `retry_after` seconds (calls are misses at no cost), then tries again. Standing aside
matters for leases: a failing server must read as "take the lease", not "someone else holds
it". Values larger than `item_limit` are not sent.

A tier answers `get_many`, `set_many`, `add` (a lease), `delete` (one taker only) and `ping`
(readiness); `TieredCache`, the prefetch ledger and leases use nothing else.
"""

import abc
import logging
import time

from ..counters import Counters

log = logging.getLogger(__name__)

_LOG_EVERY = 60.0


class SharedTier(abc.ABC):
    """`kind` names the tier in counters (`{kind}_errors`, `{kind}_oversize`), logs and the
    readiness check."""

    kind = "shared_cache"

    def __init__(self, *, retry_after: float, item_limit: int, counters: Counters):
        self.item_limit = item_limit
        self._counters = counters
        self._retry_after = retry_after
        self._down_until = 0.0
        self._last_warning = -_LOG_EVERY

    @property
    def standing_aside(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self._counters.inc(f"{self.kind}_errors")
        now = time.monotonic()
        self._down_until = now + self._retry_after
        if now - self._last_warning >= _LOG_EVERY:
            self._last_warning = now
            log.warning("%s %s failed (%s: %s); serving from process caches until it "
                        "answers again", self.kind, operation, type(exc).__name__, exc)

    def _fitting(self, items: dict[str, bytes]) -> dict[str, bytes]:
        """The items small enough to send; the others are counted and stay in process."""
        fitting = {k: v for k, v in items.items() if len(v) <= self.item_limit}
        if len(fitting) < len(items):
            self._counters.inc(f"{self.kind}_oversize", len(items) - len(fitting))
        return fitting

    @abc.abstractmethod
    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The values found; a failure is a miss."""

    @abc.abstractmethod
    def set_many(self, items: dict[str, bytes], expire: int = 0) -> None:
        """Store, `expire` seconds (0: as long as the tier keeps anything); a failure costs a
        later miss."""

    @abc.abstractmethod
    def add(self, key: str, value: bytes, expire: int) -> bool:
        """Store only if absent (a lease); True when this caller got it or the tier is down,
        so that a broken tier never stops the caller from doing the work itself."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """True only for the caller whose delete removed the key (of several at once, one)."""

    @abc.abstractmethod
    def unanswered(self) -> list[str]:
        """What does not answer now (readiness): each silent server, or the tier itself."""

    def ping(self) -> bool:
        """True if the tier answers now."""
        return not self.unanswered()
