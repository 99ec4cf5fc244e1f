"""What prefetching made ahead and whether a viewer used it: the figures of waste.

Prefetched blocks and tiles rendered ahead are entered here; the block reader and the tile
routes report, through the prefetcher, what viewers read, and each item counts as used once.
What is never used is waste, which /metrics and the prefetch benchmark report.
"""

import collections
import threading
import time
from typing import Any, Callable

from ..caches.memcached import memcached_key
from ..counters import Counters

LEDGER_TTL = 3600         # seconds a prefetched item's marker waits in memcached for a reader
NAMESPACE_RECHECK = 5.0   # seconds a worker trusts that an object has been prefetched from


class Ledger:
    """What prefetching made ahead and no viewer has used yet, by object version: blocks (items
    are block indices, valued in bytes) or rendered tiles (items are tile cache keys, valued
    1). Each use is counted once in `counter`, with the labels the item was made under (the
    session's A/B policy, the predictor that asked for it); what is never used is, in the
    end, waste.

    An item may carry a note, handed to `on_use(note)` when it is used: a rendered tile's note
    names the blocks its rendering read, which the viewer then used too, through the tile.

    A viewer's connections reach every worker, so with a shared memcached the ledger is there:
    a marker per item, taken (deleted: one taker only) by whichever worker's viewer uses the
    item first. Uses are checked against the markers in the background (`settle`), never on a
    request's path, and only for objects some worker has prefetched from: a marker per object,
    looked up for all the objects a settle's uses read in one request, and trusted for a few
    seconds once found. An object found with none is looked up again at the next settle:
    another worker may prefetch from it any moment. Without memcached it is a dict.
    """

    def __init__(self, counters: Counters, counter: str, shared=None, limit: int = 200_000,
                 on_use: Callable[[str], None] | None = None):
        self._items: collections.OrderedDict[tuple[str, Any], tuple[int, str, str]] = \
            collections.OrderedDict()
        self._on_use = on_use
        self._per_namespace: collections.Counter[str] = collections.Counter()
        self._counters = counters
        self._counter = counter
        self._shared = shared
        self._limit = limit
        self._lock = threading.Lock()
        # One settle at a time: a caller (a test's drain) must not return while another thread's
        # settle has taken uses off the queue and not counted them yet.
        self._settling = threading.Lock()
        self._uses: collections.deque[tuple[str, list]] = collections.deque(maxlen=10_000)
        self._prefetched_from: dict[str, float] = {}  # namespace: until when known prefetched from

    def add(self, namespace: str, items: dict[Any, int], labels: dict[str, str] | None = None,
            notes: dict[Any, str] | None = None) -> None:
        """`items` made ahead, each with its value (bytes of a block, 1 for a tile), under
        `labels` for the counter of their use."""
        notes = notes or {}
        label = ",".join(f"{name}={value}" for name, value in sorted((labels or {}).items()))
        if self._shared is not None:
            self._shared.set_many(
                {self._marker(namespace, item): f"{label}|{value}|{notes.get(item, '')}".encode()
                 for item, value in items.items()} | {self._marker(namespace): b"1"},
                expire=LEDGER_TTL)
            with self._lock:
                self._prefetched_from[namespace] = time.monotonic() + NAMESPACE_RECHECK
            return
        with self._lock:
            for item, value in items.items():
                if (namespace, item) not in self._items:
                    self._per_namespace[namespace] += 1
                self._items[(namespace, item)] = (value, label, notes.get(item, ""))
            while len(self._items) > self._limit:
                (dropped, _), _ = self._items.popitem(last=False)
                self._forget_one(dropped)

    def _forget_one(self, namespace: str) -> None:
        self._per_namespace[namespace] -= 1
        if self._per_namespace[namespace] <= 0:
            del self._per_namespace[namespace]

    def _marker(self, namespace: str, item: Any = None) -> str:
        return memcached_key(self._counter, namespace if item is None else f"{namespace}|{item}")

    def use(self, namespace: str, items) -> None:
        """A viewer's request used these items (read the blocks, asked for the tiles)."""
        if self._shared is not None:
            self._uses.append((namespace, list(items)))  # for `settle`
            return
        if namespace not in self._per_namespace:  # the usual case: nothing to look up
            return
        used: dict[str, int] = {}
        notes = []
        with self._lock:
            for item in items:
                entry = self._items.pop((namespace, item), None)
                if entry is not None:
                    self._forget_one(namespace)
                    value, label, note = entry
                    used[label] = used.get(label, 0) + value
                    notes.append(note)
        self._count(used, notes)

    def _count(self, used: dict[str, int], notes: list[str]) -> None:
        for label, value in used.items():
            self._counters.inc(self._counter, value,
                               **dict(pair.split("=", 1) for pair in label.split(",") if pair))
        if self._on_use is not None:
            for note in notes:
                if note:
                    self._on_use(note)

    def settle(self) -> None:
        """With memcached: takes the markers of the items viewers have used."""
        with self._settling:
            self._settle()

    def _settle(self) -> None:
        uses: dict[str, set] = {}
        while self._uses:
            namespace, items = self._uses.popleft()
            uses.setdefault(namespace, set()).update(items)
        used: dict[str, int] = {}
        notes = []
        prefetched = self._prefetched(list(uses))
        for namespace, items in uses.items():
            if namespace not in prefetched:
                continue
            markers = [self._marker(namespace, item) for item in items]
            for key, value in self._shared.get_many(markers).items():
                if self._shared.delete(key):  # an item counts once, whoever else used it
                    label, amount, note = value.decode().split("|", 2)
                    used[label] = used.get(label, 0) + int(amount)
                    notes.append(note)
        self._count(used, notes)

    def _prefetched(self, namespaces: list[str]) -> set[str]:
        """Those of `namespaces` some worker has prefetched from: known for a few seconds once
        found, the others looked up together."""
        now = time.monotonic()
        with self._lock:
            known = {ns for ns in namespaces if self._prefetched_from.get(ns, 0.0) > now}
        unknown = [ns for ns in namespaces if ns not in known]
        if not unknown:
            return known
        markers = {self._marker(ns): ns for ns in unknown}
        new = {markers[key] for key in self._shared.get_many(list(markers))}
        with self._lock:
            for ns in new:
                self._prefetched_from[ns] = now + NAMESPACE_RECHECK
            while len(self._prefetched_from) > 10_000:
                del self._prefetched_from[next(iter(self._prefetched_from))]
        return known | new
