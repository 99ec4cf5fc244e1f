"""The control loop on scripted metric streams: parameters out, bounds and hysteresis held."""

import dataclasses
import itertools
import random

import pytest

from wsi_blueprint.prefetch.controller import (KiB, MAX_DEPTH, MAX_READ, MIN_DEPTH, Controller,
                                               Parameters, Sample, Thresholds)

BLOCK = 256 * KiB

CALM = Sample(store_latency_ms=40, store_error_rate=0.0, block_hit_rate=0.75,
              sequential_share=0.45, demand_in_flight=2)


def run(controller, samples):
    return [controller.update(s) for s in samples]


def test_calm_traffic_changes_nothing():
    controller = Controller()
    out = run(controller, [CALM] * 20)
    assert {(p.read_size, p.depth, p.throttled) for p in out} == {(MAX_READ, 1, False)}


def read_ahead(used: float | None) -> Sample:
    return dataclasses.replace(CALM, read_ahead_use=used)


def test_unused_read_ahead_shrinks_reads_to_one_block_and_no_further():
    controller = Controller(block_size=BLOCK)
    sizes = [p.read_size for p in run(controller, [read_ahead(0.1)] * 12)]
    assert sizes[0] == MAX_READ  # one period is not enough (hysteresis)
    assert sizes[1] == 512 * KiB
    assert sizes[2] == 512 * KiB  # never two changes in consecutive periods
    assert min(sizes) == BLOCK and sizes[-1] == BLOCK


def test_used_read_ahead_grows_reads_back_to_the_bound():
    controller = Controller(Parameters(read_size=BLOCK), block_size=BLOCK)
    sizes = [p.read_size for p in run(controller, [read_ahead(0.7)] * 12)]
    assert sizes[:3] == [BLOCK, 512 * KiB, 512 * KiB]
    assert max(sizes) == MAX_READ and sizes[-1] == MAX_READ


def test_at_one_block_sequential_reads_that_hit_grow_reads():
    """At one block nothing is read ahead, so there is no use to measure: reads that each
    continue the last one say that bigger ones would pay."""
    controller = Controller(Parameters(read_size=BLOCK), block_size=BLOCK)
    out = run(controller, [read_ahead(None)] * 4)
    assert {p.read_size for p in out} == {BLOCK}
    sequential = Sample(40, 0.0, 0.95, 0.8, 2)
    assert run(controller, [sequential] * 2)[-1].read_size == 512 * KiB


def test_a_single_odd_period_is_ignored():
    controller = Controller()
    out = run(controller, [CALM, read_ahead(0.05), read_ahead(0.6), read_ahead(0.05), CALM])
    assert all(p.read_size == MAX_READ for p in out)


def test_depth_follows_store_latency_within_bounds():
    controller = Controller()
    slow = Sample(150, 0.0, 0.75, 0.45, 2)
    fast = Sample(5, 0.0, 0.75, 0.45, 2)
    depths = [p.depth for p in run(controller, [slow] * 8)]
    assert depths[-1] == MAX_DEPTH and max(depths) == MAX_DEPTH
    depths = [p.depth for p in run(controller, [fast] * 10)]
    assert depths[-1] == MIN_DEPTH and min(depths) == MIN_DEPTH


def test_prefetch_backs_off_under_saturation_and_resumes_after():
    changes = []
    controller = Controller(on_change=lambda *change: changes.append(change))
    run(controller, [CALM] * 5)
    busy = Sample(40, 0.0, 0.75, 0.45, demand_in_flight=30)
    out = run(controller, [busy] * 4)
    assert [p.throttled for p in out] == [False, True, True, True]
    out = run(controller, [CALM] * 4)
    assert out[-1].throttled is False
    assert ("throttled", False, True) in changes and ("throttled", True, False) in changes


def test_a_store_that_slows_or_errors_throttles_prefetch():
    for trouble in (Sample(400, 0.0, 0.75, 0.45, 2), Sample(40, 0.2, 0.75, 0.45, 2)):
        controller = Controller()
        run(controller, [CALM] * 5)
        assert run(controller, [trouble] * 3)[-1].throttled


@pytest.mark.parametrize("signal, value", [("loop_lag_ms", 80), ("cpu_share", 1.1)])
def test_a_late_event_loop_or_a_busy_cpu_throttles_after_two_periods_and_resumes_after(
        signal, value):
    changes = []
    controller = Controller(on_change=lambda *change: changes.append(change))
    run(controller, [CALM] * 5)
    busy = dataclasses.replace(CALM, **{signal: value})
    assert [p.throttled for p in run(controller, [busy] * 4)] == [False, True, True, True]
    assert [p.throttled for p in run(controller, [CALM] * 3)] == [True, False, False]
    assert changes == [("throttled", False, True), ("throttled", True, False)]


def test_load_just_under_the_thresholds_or_a_single_spike_is_not_throttled():
    t = Thresholds()
    under = dataclasses.replace(CALM, loop_lag_ms=t.busy_lag_ms - 1, cpu_share=t.busy_cpu - 0.01)
    spikes = [dataclasses.replace(CALM, loop_lag_ms=500), dataclasses.replace(CALM, cpu_share=2)]
    controller = Controller()
    out = run(controller, [under] * 6 + [spikes[0], CALM, spikes[1], under, spikes[0], CALM])
    assert not any(p.throttled for p in out)


def test_bounds_and_hysteresis_hold_on_a_noisy_load_stream():
    t, rng = Thresholds(), random.Random(10)
    samples = [Sample(store_latency_ms=40, store_error_rate=0.0, block_hit_rate=rng.random(),
                      sequential_share=rng.random(), demand_in_flight=rng.choice((1, 4, 20)),
                      read_ahead_use=rng.choice((None, rng.random())),
                      loop_lag_ms=rng.choice((1, 2, 60)), cpu_share=rng.choice((0.1, 0.5, 1.2)))
               for _ in range(300)]
    controller, out, flips = Controller(), [], []
    for i, sample in enumerate(samples):
        out.append(controller.update(sample))
        if i and out[i].throttled != out[i - 1].throttled:
            flips.append(i)
    assert all(BLOCK <= p.read_size <= MAX_READ for p in out)
    assert len({p.read_size for p in out}) > 1
    assert len(flips) >= 4, "a stream this noisy throttles and resumes more than once"
    assert all(b - a > 1 for a, b in itertools.pairwise(flips))  # never undone the next period
    for i in flips:  # each flip follows two periods in a row that called for it
        busy = [s.demand_in_flight >= t.busy_demand or s.loop_lag_ms >= t.busy_lag_ms
                or s.cpu_share >= t.busy_cpu for s in samples[i - 1:i + 1]]
        assert busy == [out[i].throttled] * 2, i
