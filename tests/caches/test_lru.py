from wsi_blueprint.caches.lru import ByteLRU


def test_evicts_least_recently_used_to_stay_within_bytes():
    lru = ByteLRU(10)
    lru.set("a", b"1234")
    lru.set("b", b"1234")
    assert lru.get("a") == b"1234"  # a is now the most recent
    lru.set("c", b"1234")
    assert lru.get("b") is None and lru.get("a") and lru.get("c")
    assert lru.bytes == 8 and lru.evictions == 1


def test_replacing_a_key_reweighs_it():
    lru = ByteLRU(10)
    lru.set("a", b"12345678")
    lru.set("a", b"12")
    assert lru.bytes == 2 and len(lru) == 1


def test_values_heavier_than_the_budget_are_not_kept():
    lru = ByteLRU(10)
    lru.set("small", b"1")
    lru.set("huge", b"x" * 11)
    assert lru.get("huge") is None and lru.get("small") == b"1"


def test_explicit_weight_for_objects():
    lru = ByteLRU(100)
    lru.set("obj", object(), weight=60)
    lru.set("obj2", object(), weight=60)
    assert lru.get("obj") is None and lru.bytes == 60


def test_segmented_lru_keeps_what_is_read_twice_through_a_scan():
    from wsi_blueprint.caches.lru import SegmentedLRU
    plain, segmented = ByteLRU(100), SegmentedLRU(100)
    for cache in (plain, segmented):
        for hot in ("h1", "h2", "h3"):
            cache.set(hot, b"x" * 10)
            cache.get(hot)  # overview tiles: read again and again
        for one_off in range(30):  # a scan at high power: each tile once
            cache.set(f"scan{one_off}", b"y" * 10)
    assert [plain.get(h) for h in ("h1", "h2", "h3")] == [None] * 3
    assert all(segmented.get(h) for h in ("h1", "h2", "h3"))
    assert segmented.bytes <= 100 and plain.bytes <= 100


def test_segmented_lru_bounds_and_demotion():
    from wsi_blueprint.caches.lru import SegmentedLRU
    cache = SegmentedLRU(100)
    for i in range(10):
        cache.set(i, b"z" * 10)
        cache.get(i)  # all promoted: protected holds at most 80 bytes
    assert cache.bytes == 100 and cache._protected_bytes <= 80
    assert cache.get(0) is not None  # demoted to probation, not dropped
    cache.set("big", b"w" * 200)
    assert cache.get("big") is None and cache.bytes <= 100
    cache.delete(5)
    assert cache.get(5) is None and len(cache) == 9
