"""The prefetch control loop: parameters tuned to the store and the load actually met.

Every few seconds the prefetcher hands the controller what it measured over the last period
(`Sample`); the controller answers with the parameters for the next one (`Parameters`):

- read size (one block - 1 MiB by default), the unit store reads are rounded out to: doubled while
  viewers go on to use most of what the bigger reads brought ahead (or reads are sequential
  and hit), halved while they leave most of it unused;
- prefetch depth (1-3 steps ahead): deeper when the store is slow (more must be in flight to
  hide its latency), shallower when it is fast;
- throttled: prefetch stands aside while the server is busy (many demand requests in flight,
  a late event loop, a worker CPU near one core) or the store slows down or errors, and
  resumes once it has recovered.

Each decision needs its condition in two periods running (hysteresis), and a change is never
undone in the next period, so parameters do not flap on noise. Decisions are pure functions of
the samples: the tests script samples and check the parameters that come out. The measurements
behind the thresholds are in docs/design/prefetch.md.
"""

import dataclasses
import logging

log = logging.getLogger(__name__)

KiB = 1024
MAX_READ = 1024 * KiB
MIN_DEPTH, MAX_DEPTH = 1, 3


@dataclasses.dataclass(frozen=True)
class Sample:
    """What one period measured."""

    store_latency_ms: float     # mean time to first byte of store reads
    store_error_rate: float     # failed attempts / all attempts
    block_hit_rate: float       # block cache hits / block lookups
    sequential_share: float     # share of store reads that continued the previous read
    demand_in_flight: float     # mean demand image requests in flight
    loop_lag_ms: float = 0.0    # mean lateness of the event loop's timer wake-ups
    cpu_share: float = 0.0      # process CPU seconds per wall second (1.0 = one core busy)
    read_ahead_use: float | None = None  # bytes read ahead that viewers used / bytes read
                                         # ahead; None when nothing was read ahead

    def __str__(self) -> str:
        """For the log line of a change: what the controller saw."""
        used = "-" if self.read_ahead_use is None else f"{self.read_ahead_use:.0%}"
        return (f"store {self.store_latency_ms:.0f} ms, errors {self.store_error_rate:.0%}, "
                f"block hits {self.block_hit_rate:.0%}, sequential {self.sequential_share:.0%}, "
                f"read ahead used {used}, "
                f"demand {self.demand_in_flight:.1f} in flight, loop lag "
                f"{self.loop_lag_ms:.0f} ms, CPU {self.cpu_share:.2f} cores")


@dataclasses.dataclass(frozen=True)
class Parameters:
    read_size: int = MAX_READ
    # One view ahead: a second one fetched a third more bytes and readied no more tiles that
    # were then asked for; only a slower store earns it.
    depth: int = 1
    throttled: bool = False


@dataclasses.dataclass(frozen=True)
class Thresholds:
    slow_store_ms: float = 80.0       # deeper above this
    fast_store_ms: float = 20.0       # shallower below this
    # Throttle at a viewer's six parallel requests per worker, on average: a higher threshold
    # let prefetch run beside viewers that kept every worker busy.
    busy_demand: float = 6.0
    bad_error_rate: float = 0.05      # throttle above this store error rate
    # A healthy loop wakes a timer within a few ms, idle or serving tiles flat out, as pixel
    # work runs off the loop. Late by this much on average, Python work is holding the loop
    # and every request waits as long.
    busy_lag_ms: float = 25.0
    # A worker runs its Python on one core (one event loop, one GIL), and clients asking for
    # derived tiles at once push it to a whole core, where their requests queue. This close to
    # it, prefetch's own work would slow demand.
    busy_cpu: float = 0.85
    high_hits: float = 0.9
    sequential: float = 0.6
    # Reading ahead pays when viewers use at least half of it: a store request saved costs far
    # more than the extra bytes. Below a fifth used, the bigger reads are mostly waste.
    used_ahead: float = 0.5
    unused_ahead: float = 0.2
    periods: int = 2                  # a condition must hold this many periods in a row


class Controller:
    def __init__(self, start: Parameters = Parameters(), thresholds: Thresholds = Thresholds(),
                 on_change=None, block_size: int = 256 * KiB, max_read: int = MAX_READ):
        self.parameters = start
        self.block_size = block_size  # the smallest read: one block
        self.max_read = max_read
        self.thresholds = thresholds
        self.on_change = on_change  # called with (name, old, new) for each change
        self._streaks: dict[str, int] = {}
        self._last_change: dict[str, int] = {}
        self._period = 0
        self._baseline_latency: float | None = None

    def _holds(self, name: str, condition: bool) -> bool:
        """True once `condition` has held for the required number of periods in a row."""
        self._streaks[name] = self._streaks.get(name, 0) + 1 if condition else 0
        return self._streaks[name] >= self.thresholds.periods

    def _may_change(self, name: str) -> bool:
        return self._period - self._last_change.get(name, -10) > 1

    def update(self, sample: Sample) -> Parameters:
        self._period += 1
        t, p = self.thresholds, self.parameters
        if self._baseline_latency is None or not p.throttled:
            # The store's normal latency, learnt while it is healthy (a slow moving average).
            base = self._baseline_latency
            self._baseline_latency = (sample.store_latency_ms if base is None
                                      else 0.9 * base + 0.1 * sample.store_latency_ms)
        read, depth, throttled = p.read_size, p.depth, p.throttled
        used = sample.read_ahead_use

        if self._holds("grow", (used is not None and used >= t.used_ahead) or (
                sample.sequential_share >= t.sequential and sample.block_hit_rate >= t.high_hits)) \
                and self._may_change("read"):
            read = max(self.block_size, min(self.max_read, read * 2))
        elif self._holds("shrink", used is not None and used <= t.unused_ahead) and \
                self._may_change("read"):
            read = max(self.block_size, read // 2)

        if self._holds("deeper", sample.store_latency_ms >= t.slow_store_ms) and \
                self._may_change("depth"):
            depth = min(MAX_DEPTH, depth + 1)
        elif self._holds("shallower", sample.store_latency_ms <= t.fast_store_ms) and \
                self._may_change("depth"):
            depth = max(MIN_DEPTH, depth - 1)

        struggling = (sample.demand_in_flight >= t.busy_demand
                      or sample.loop_lag_ms >= t.busy_lag_ms
                      or sample.cpu_share >= t.busy_cpu
                      or sample.store_error_rate >= t.bad_error_rate
                      or sample.store_latency_ms >= 3 * (self._baseline_latency or 1e9))
        if self._holds("throttle", struggling) and self._may_change("throttled"):
            throttled = True
        elif self._holds("resume", not struggling) and self._may_change("throttled"):
            throttled = False

        new = Parameters(read, depth, throttled)
        for name in ("read_size", "depth", "throttled"):
            old_value, new_value = getattr(p, name), getattr(new, name)
            if old_value != new_value:
                self._last_change[{"read_size": "read"}.get(name, name)] = self._period
                log.info("prefetch control: %s %s -> %s (%s)", name, old_value, new_value,
                         sample)
                if self.on_change is not None:
                    self.on_change(name, old_value, new_value)
        self.parameters = new
        return new
