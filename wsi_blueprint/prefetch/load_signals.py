"""How loaded the worker is, beyond its counters: event-loop lag and CPU.

- Event-loop lag: under gevent every request of a worker shares one event loop. A ticker
  sleeps a fixed interval and adds up how late it wakes; when Python work holds the loop,
  every waiting request is late by about as much. The ticker is a thread, which under gevent's
  monkey-patching is a greenlet on the very loop it measures (so `start` must come after the
  patching); without gevent it is a plain thread, harmless and nearly always on time.
- CPU: the process's CPU time (every thread, native decoders included). Per wall second it is
  in cores: 1.0 is one core busy all the time, all the Python a worker can run at once (one
  event loop, one GIL), whatever the machine's size. Pixel work runs in native threads off
  the loop, so a worker flat out serving tiles shows here rather than in the lag.

Both are given as running totals, like the counters, so the control loop takes the difference
over its period and nothing here needs resetting.
"""

import threading
import time

TICK = 0.05  # seconds between the ticker's wake-ups: 20 trivial wake-ups a second


class LoadSignals:
    def __init__(self, tick: float = TICK):
        self.tick = tick
        # (seconds woken late, wake-ups): one tuple, replaced whole, so that a reader on
        # another thread never sees one updated without the other.
        self._totals = (0.0, 0)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        """Start the ticker, once. Call it after gevent has patched threading and time."""
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._tick, name="wsi-loop-lag", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """For good: the ticker ends at its next wake-up (within one tick)."""
        self._stopped = True

    def _tick(self) -> None:
        while not self._stopped:
            asleep = time.monotonic()
            time.sleep(self.tick)
            late = max(0.0, time.monotonic() - asleep - self.tick)
            lag, wakeups = self._totals
            self._totals = (lag + late, wakeups + 1)

    def readings(self) -> dict[str, float]:
        """Running totals: CPU and wall seconds, seconds the ticker woke late, its wake-ups."""
        lag, wakeups = self._totals
        return {"cpu_seconds": time.process_time(), "wall_seconds": time.monotonic(),
                "lag_seconds": lag, "wakeups": wakeups}
