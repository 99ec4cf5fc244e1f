"""Coalescing of concurrent misses: one caller loads a key, the others wait for its result.

Works for threads and, once gevent has patched `threading`, for greenlets alike.
"""

import threading
from typing import Any, Callable, Hashable

from ..errors import StoreTimeout


class Flight:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def wait(self, timeout: float) -> Any:
        if not self._done.wait(timeout):
            raise StoreTimeout("timed out waiting for a concurrent read of the same data")
        if self._error is not None:
            raise self._error
        return self._value


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Flight] = {}

    def __len__(self) -> int:
        """Flights under way."""
        with self._lock:
            return len(self._flights)

    def begin(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight for `key` and whether the caller leads it (and must call `end`)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def end(self, key: Hashable, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            flight = self._flights.pop(key)
        flight._value, flight._error = value, error
        flight._done.set()

    def do(self, key: Hashable, load: Callable[[], Any], timeout: float) -> Any:
        flight, leader = self.begin(key)
        if not leader:
            return flight.wait(timeout)
        try:
            value = load()
        except BaseException as exc:
            self.end(key, error=exc)
            raise
        self.end(key, value)
        return value
