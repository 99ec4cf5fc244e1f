"""The shared tier over a host app's flask_caching.Cache, against a real redis-server, a real
memcached and a folder: sharing between processes, keys every backend takes, limits, leases,
degradation."""

import json
import logging
import threading
import time

import pytest
import redis
from flask import Flask
from flask_caching import Cache

from wsi_blueprint.caches import FlaskCacheTier, TieredCache
from wsi_blueprint.caches.flask_cache import backend_of
from wsi_blueprint.caches.memcached import memcached_key
from caches.shared_tier_checks import check_lease_keeps_a_second_process_from_loading
from wsi_blueprint.counters import Counters

BOUNDED = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}


def redis_config(server, **options) -> dict:
    return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": server.url,
            "CACHE_OPTIONS": {**BOUNDED, **options}}


def host_backend(config: dict):
    """What a host app has: a flask_caching.Cache initialised on its app; its backend."""
    app = Flask("host")
    cache = Cache(app, config={"CACHE_DEFAULT_TIMEOUT": 600, **config})
    return backend_of(cache, app.extensions["cache"])


def tier(config: dict, counters: Counters, item_limit: int = 1 << 20) -> FlaskCacheTier:
    return FlaskCacheTier(host_backend(config), retry_after=0.5, item_limit=item_limit,
                          counters=counters)


@pytest.fixture(params=["redis", "filesystem", "memcached"])
def any_backend(request, tmp_path):
    """The config of a host cache of each kind, every one backed by a real server or folder."""
    if request.param == "redis":
        return redis_config(request.getfixturevalue("redis_server"))
    if request.param == "filesystem":
        return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(tmp_path / "cache"),
                "CACHE_THRESHOLD": 0}
    memcached = request.getfixturevalue("memcached")
    return {"CACHE_TYPE": "MemcachedCache", "CACHE_MEMCACHED_SERVERS": [memcached.address]}


class JSONCodec:
    encode = staticmethod(lambda value: json.dumps(value).encode())
    decode = staticmethod(lambda data: json.loads(data))


def test_a_second_process_finds_tiles_in_the_host_cache(any_backend):
    """Each TieredCache has its own client, as two workers do; what one stores the other
    reads from the shared tier, then from its own process tier."""
    a_counters, b_counters = Counters(), Counters()
    a = TieredCache("tiles", 1 << 20, a_counters, tier(any_backend, a_counters))
    b = TieredCache("tiles", 1 << 20, b_counters, tier(any_backend, b_counters))
    tile = bytes(range(256)) * 128  # tile-sized, every byte value
    a.set("slide|12|0_0.jpeg", tile)
    assert b.get("slide|12|0_0.jpeg") == tile
    assert b_counters.get("cache_hits", cache="tiles", tier="l2") == 1
    assert b.get("slide|12|0_0.jpeg") == tile
    assert b_counters.get("cache_hits", cache="tiles", tier="l1") == 1


def test_keys_any_backend_would_refuse_are_hashed(any_backend, counters):
    """Spaces, control characters, non-ASCII and length past memcached's 250 bytes: the keys
    reach every backend hashed, so each is stored and found under its own name."""
    keys = ["cases/42/A 1.svs|0", "line\nbreak|1", "Präparat/Schnitt 3.ndpi|2", "x" * 1000,
            "x" * 999 + "y"]
    writer = TieredCache("blocks", 1 << 20, counters, tier(any_backend, counters))
    reader = TieredCache("blocks", 1 << 20, counters, tier(any_backend, counters))
    writer.set_many({key: key.encode() for key in keys})
    assert reader.get_many(keys) == {key: key.encode() for key in keys}
    assert counters.get("shared_cache_errors") == 0


def test_objects_travel_through_a_codec(redis_server, counters):
    a = TieredCache("metadata", 1 << 20, counters, tier(redis_config(redis_server), counters),
                    JSONCodec)
    b = TieredCache("metadata", 1 << 20, counters, tier(redis_config(redis_server), counters),
                    JSONCodec)
    a.set("slide", {"levels": [1, 2]})
    assert b.get("slide") == {"levels": [1, 2]}


def test_items_over_the_limit_stay_in_process(redis_server, counters):
    config = redis_config(redis_server)
    a = TieredCache("blocks", 1 << 22, counters, tier(config, counters, item_limit=64 * 1024))
    b = TieredCache("blocks", 1 << 22, counters, tier(config, counters))
    a.set("big", b"x" * 100_000)
    a.set("small", b"x")
    assert a.get("big") is not None and b.get("big") is None
    assert b.get("small") == b"x"
    assert counters.get("shared_cache_oversize") == 1


def test_values_live_as_long_as_the_host_cache_says(redis_server, counters):
    """No expiry of our own: the host's CACHE_DEFAULT_TIMEOUT (600 s here). A lease keeps the
    expiry it asks for."""
    shared = tier(redis_config(redis_server), counters)
    shared.set_many({memcached_key("tiles", "t"): b"tile"})
    assert shared.add(memcached_key("metadata", "lease:s"), b"1", expire=5)
    client = redis.Redis.from_url(redis_server.url)
    prefix = "flask_cache_"
    assert 590 <= client.ttl(prefix + memcached_key("tiles", "t")) <= 600
    assert 0 < client.ttl(prefix + memcached_key("metadata", "lease:s")) <= 5


def test_redis_killed_mid_test_degrades_to_the_process_tier_and_recovers(redis_server,
                                                                          counters):
    cache = TieredCache("blocks", 1 << 20, counters, tier(redis_config(redis_server), counters))
    cache.set("before", b"1")
    redis_server.stop()
    began = time.monotonic()
    for i in range(50):
        cache.set(f"k{i}", b"v")
        assert cache.get(f"k{i}") == b"v"  # the process tier still serves
        assert cache.get(f"other{i}") is None  # and a shared miss is just a miss
    assert time.monotonic() - began < 5  # the tier stands aside instead of retrying each call
    assert counters.get("shared_cache_errors") >= 1
    assert not cache.shared.ping()
    redis_server.start()  # the same port
    assert cache.shared.ping()
    time.sleep(0.6)  # the tier's retry_after
    fresh = Counters()
    other = TieredCache("blocks", 1 << 20, fresh, tier(redis_config(redis_server), fresh))
    cache.set("after", b"2")
    assert other.get("after") == b"2"


def test_unreachable_redis_from_the_start_never_fails_a_call(redis_server, counters):
    redis_server.stop()
    dead = tier(redis_config(redis_server), counters)
    cache = TieredCache("tiles", 1 << 20, counters, dead)
    cache.set("a", b"1")
    assert cache.get("a") == b"1" and cache.get("b") is None
    assert cache.get_or_load("c", lambda: b"3", lease_seconds=10) == b"3"  # no lease wait
    assert not dead.ping()


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_a_lease_on_a_dead_server_does_not_wait(kind, request, counters):
    """python-memcached reads a dead server as "not stored", redis-py raises: either way the
    caller takes the lease and loads at once instead of waiting for another's result."""
    server = request.getfixturevalue("redis_server" if kind == "redis" else "memcached")
    config = redis_config(server) if kind == "redis" else {
        "CACHE_TYPE": "MemcachedCache", "CACHE_MEMCACHED_SERVERS": [server.address]}
    cache = TieredCache("metadata", 1 << 20, counters, tier(config, counters))
    server.stop()
    began = time.monotonic()
    assert cache.get_or_load("slide", lambda: b"index", lease_seconds=10) == b"index"
    assert time.monotonic() - began < 2
    assert counters.get("shared_cache_errors") >= 1


def test_lease_keeps_a_second_process_from_loading_the_same_key(redis_server):
    check_lease_keeps_a_second_process_from_loading(lambda c: tier(redis_config(redis_server), c))


def test_of_several_deletes_of_a_key_one_takes_it(redis_server, counters):
    """The prefetch ledger counts an item used once: by the one worker whose delete took it."""
    tiers = [tier(redis_config(redis_server), counters) for _ in range(4)]
    tiers[0].set_many({"marker": b"policy=a|1|"})
    taken = []
    threads = [threading.Thread(target=lambda t=t: taken.append(t.delete("marker")))
               for t in tiers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == [False, False, False, True]


def test_a_redis_client_without_timeouts_is_warned_of(redis_server, counters, caplog):
    with caplog.at_level(logging.WARNING, logger="wsi_blueprint.caches.flask_cache"):
        tier({"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis_server.url}, counters)
        assert "socket_timeout" in caplog.text
        caplog.clear()
        tier(redis_config(redis_server), counters)
        assert caplog.text == ""


def test_a_cache_not_initialised_on_the_app_is_refused():
    app = Flask("host")
    with pytest.raises(ValueError, match="init_app"):
        backend_of(Cache(config={"CACHE_TYPE": "SimpleCache"}), app.extensions.get("cache", {}))
