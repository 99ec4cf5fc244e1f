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
