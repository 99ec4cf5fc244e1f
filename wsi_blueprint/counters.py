"""Process-wide counters: store traffic, retries, cache hits and misses per tier.

Kept deliberately plain (a locked dict of numbers) so every layer can count without knowing
who reads the figures: /metrics, the prefetcher and the benchmarks all read `snapshot()`.
"""

import threading
from typing import Callable, Iterator

Observer = Callable[[str, float, dict], None]


def _key(name: str, labels: dict) -> tuple:
    return (name, tuple(sorted(labels.items())))


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple, float] = {}
        self._observers: list[Observer] = []
        self._keys: dict[tuple, tuple] = {}

    def observe(self, observer: Observer) -> None:
        """Also tell `observer(name, amount, labels)` of every increment (metrics export)."""
        self._observers.append(observer)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        given = (name, *labels.items())
        key = self._keys.get(given)
        if key is None:  # label sets are few: each sorted once
            key = self._keys[given] = _key(name, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount
        for observer in self._observers:
            observer(name, amount, labels)

    def get(self, name: str, **labels: str) -> float:
        """The sum of the counter over every label set that includes the given labels."""
        wanted = set(labels.items())
        with self._lock:
            return sum(v for (n, have), v in self._values.items()
                       if n == name and wanted <= set(have))

    def snapshot(self) -> dict[tuple, float]:
        with self._lock:
            return dict(self._values)

    def items(self) -> Iterator[tuple[str, dict, float]]:
        for (name, labels), value in sorted(self.snapshot().items()):
            yield name, dict(labels), value
