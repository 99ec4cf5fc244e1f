"""The control loop on scripted metric streams: parameters out, bounds and hysteresis held."""

from wsi_blueprint.prefetch.controller import (KiB, MAX_BLOCK, MAX_DEPTH, MIN_BLOCK, MIN_DEPTH,
                                               Controller, Sample)

CALM = Sample(store_latency_ms=40, store_error_rate=0.0, block_hit_rate=0.75,
              sequential_share=0.45, demand_in_flight=2)


def run(controller, samples):
    return [controller.update(s) for s in samples]


def test_calm_traffic_changes_nothing():
    controller = Controller()
    out = run(controller, [CALM] * 20)
    assert {(p.block_size, p.depth, p.throttled) for p in out} == {(256 * KiB, 2, False)}


def test_sequential_reads_with_high_hits_grow_blocks_to_the_bound_and_no_further():
    controller = Controller()
    sequential = Sample(40, 0.0, 0.95, 0.8, 2)
    sizes = [p.block_size for p in run(controller, [sequential] * 12)]
    assert sizes[0] == 256 * KiB  # one period is not enough (hysteresis)
    assert sizes[1] == 512 * KiB
    assert sizes[2] == 512 * KiB  # never two changes in consecutive periods
    assert max(sizes) == MAX_BLOCK and sizes[-1] == MAX_BLOCK


def test_random_reads_with_low_hits_shrink_blocks_to_the_bound():
    controller = Controller()
    random = Sample(40, 0.0, 0.3, 0.1, 2)
    sizes = [p.block_size for p in run(controller, [random] * 12)]
    assert sizes[-1] == MIN_BLOCK and min(sizes) == MIN_BLOCK


def test_a_single_odd_period_is_ignored():
    controller = Controller()
    out = run(controller, [CALM, Sample(40, 0.0, 0.95, 0.8, 2), CALM, CALM])
    assert all(p.block_size == 256 * KiB for p in out)


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
