"""Once a control period: measure the worker from its counters, let the controller decide."""

import threading
from typing import Callable

from ..counters import Counters
from .controller import Controller, Parameters, Sample
from .load_signals import LoadSignals


class ControlLoop:
    def __init__(self, counters: Counters, controller: Controller, period: float,
                 clock: Callable[[], float], lock: threading.Lock):
        self.counters = counters
        self.controller = controller
        self.period = period
        self.clock = clock
        self._lock = lock
        self.load = LoadSignals()
        self._period_start = clock()
        self._period_counts = self._counts()
        self._demand_samples: list[int] = []

    @property
    def parameters(self) -> Parameters:
        return self.controller.parameters

    def _counts(self) -> dict[str, float]:
        c = self.counters
        return {name: c.get(name) for name in (
            "store_requests", "store_seconds", "store_errors", "block_runs",
            "block_runs_sequential", "read_ahead_bytes", "read_ahead_used_bytes")} | {
            "hits": c.get("cache_hits", cache="blocks"),
            "misses": c.get("cache_misses", cache="blocks")} | self.load.readings()

    def tick(self, demand: int) -> Parameters | None:
        """Samples the demand in flight; once a period, the controller's new parameters."""
        with self._lock:
            self._demand_samples.append(demand)
            now = self.clock()
            if now - self._period_start < self.period:
                return None
            self._period_start = now
            counts, before = self._counts(), self._period_counts
            self._period_counts = counts
            demand_mean = sum(self._demand_samples) / len(self._demand_samples)
            self._demand_samples = []
        self.load.start()  # once; not in __init__, which may run before gevent patches
        delta = {k: counts[k] - before[k] for k in counts}
        requests = max(delta["store_requests"], 1)
        lookups = delta["hits"] + delta["misses"]
        return self.controller.update(Sample(
            store_latency_ms=1000 * delta["store_seconds"] / requests,
            store_error_rate=delta["store_errors"] / (requests + delta["store_errors"]),
            block_hit_rate=delta["hits"] / lookups if lookups else 1.0,
            sequential_share=(delta["block_runs_sequential"] / delta["block_runs"]
                              if delta["block_runs"] else 0.45),
            demand_in_flight=demand_mean,
            loop_lag_ms=(1000 * delta["lag_seconds"] / delta["wakeups"]
                         if delta["wakeups"] else 0.0),
            cpu_share=delta["cpu_seconds"] / max(delta["wall_seconds"], 1e-6),
            read_ahead_use=(min(1.0, delta["read_ahead_used_bytes"] / delta["read_ahead_bytes"])
                            if delta["read_ahead_bytes"] else None)))

    def stop(self) -> None:
        self.load.stop()
