"""An in-process LRU bounded by the bytes it holds, not by its number of entries."""

import collections
import threading
from typing import Any, Hashable


class ByteLRU:
    """Values are weighed when stored (bytes by their length unless a weight is given).

    A value heavier than the whole budget is not stored at all.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._items: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def set(self, key: Hashable, value: Any, weight: int | None = None) -> None:
        weight = len(value) if weight is None else weight
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if weight > self.max_bytes:
                return
            self._items[key] = (value, weight)
            self.bytes += weight
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped
                self.evictions += 1

    def delete(self, key: Hashable) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


class SegmentedLRU:
    """An LRU that keeps what is asked for again: entries start in a probation segment and
    move to a protected one (at most 80 % of the budget) on their second hit. A scan of
    one-off reads churns probation only; overview tiles and blocks many viewers share stay.
    Same interface as ByteLRU.
    """

    PROTECTED_SHARE = 0.8

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.protected_max = int(max_bytes * self.PROTECTED_SHARE)
        self.evictions = 0
        self._probation: collections.OrderedDict[Hashable, tuple[Any, int]] = \
            collections.OrderedDict()
        self._protected: collections.OrderedDict[Hashable, tuple[Any, int]] = \
            collections.OrderedDict()
        self._probation_bytes = 0
        self._protected_bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._probation_bytes + self._protected_bytes

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._protected.get(key)
            if item is not None:
                self._protected.move_to_end(key)
                return item[0]
            item = self._probation.pop(key, None)
            if item is None:
                return None
            self._probation_bytes -= item[1]
            self._protected[key] = item  # a second hit: protected
            self._protected_bytes += item[1]
            while self._protected_bytes > self.protected_max:
                old_key, old = self._protected.popitem(last=False)  # demoted, not dropped
                self._protected_bytes -= old[1]
                self._probation[old_key] = old
                self._probation_bytes += old[1]
            self._evict()
            return item[0]

    def set(self, key: Hashable, value: Any, weight: int | None = None) -> None:
        weight = len(value) if weight is None else weight
        with self._lock:
            self._remove(key)
            if weight > self.max_bytes:
                return
            self._probation[key] = (value, weight)
            self._probation_bytes += weight
            self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes:
            segment = self._probation if self._probation else self._protected
            _, (_, weight) = segment.popitem(last=False)
            if segment is self._probation:
                self._probation_bytes -= weight
            else:
                self._protected_bytes -= weight
            self.evictions += 1

    def _remove(self, key: Hashable) -> None:
        item = self._probation.pop(key, None)
        if item is not None:
            self._probation_bytes -= item[1]
        item = self._protected.pop(key, None)
        if item is not None:
            self._protected_bytes -= item[1]

    def delete(self, key: Hashable) -> None:
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._probation.clear()
            self._protected.clear()
            self._probation_bytes = self._protected_bytes = 0
