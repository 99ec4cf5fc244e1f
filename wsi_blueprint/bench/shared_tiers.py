"""What one call to a shared cache tier costs: WSI_MEMCACHED's pymemcache tier against a host
app's flask_caching cache (`create_blueprint(cache=...)`) over Redis and over memcached.

Each tier talks to a fresh server of its own on loopback, through the tier classes the caches
use. Run as a script, the process is patched by gevent and every call is made in a greenlet of
its own, as a gevent worker makes each request's calls (a client that keeps a connection per
thread, as python-memcached does, then connects for every call). Per value size and
operation, `calls` calls one after another, each timed:

- get hit: `get_many` of one stored key;
- get miss: `get_many` of one absent key;
- set: `set_many` of one value (pymemcache's stores go unanswered, the others' are answered);
- get_many: `get_many` of 16 stored keys at once, as a block reader asks for a tile's blocks.

    python -m wsi_blueprint.bench.shared_tiers [--calls 2000] [--sizes 32768,262144]
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import argparse
import json
import os
import statistics
import time
from typing import Any, Callable

from ..caches import FlaskCacheTier, MemcachedTier, SharedTier
from ..caches.flask_cache import backend_of
from ..caches.memcached import memcached_key
from ..counters import Counters
from .services import Memcached, Redis

BATCH = 16
RING = 64
ITEM_LIMIT = 1 << 20


def _pymemcache(server: Memcached) -> SharedTier:
    return MemcachedTier([("127.0.0.1", server.port)], timeout=1.0, retry_after=1.0,
                         item_limit=ITEM_LIMIT, counters=Counters())


def _host_cache(config: dict) -> SharedTier:
    """The tier `create_blueprint(cache=...)` makes of a host app's flask_caching.Cache."""
    from flask import Flask
    from flask_caching import Cache

    app = Flask("bench")
    cache = Cache(app, config={"CACHE_DEFAULT_TIMEOUT": 600, **config})
    return FlaskCacheTier(backend_of(cache, app.extensions["cache"]), retry_after=1.0,
                          item_limit=ITEM_LIMIT, counters=Counters())


# name: (the server, the tier over it)
TIERS: dict[str, tuple[Callable[[], Any], Callable[[Any], SharedTier]]] = {
    "pymemcache (WSI_MEMCACHED)": (lambda: Memcached(memory_mb=256), _pymemcache),
    "flask-caching RedisCache": (Redis, lambda server: _host_cache({
        "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": server.url,
        "CACHE_OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}})),
    "flask-caching MemcachedCache": (lambda: Memcached(memory_mb=256), lambda server: _host_cache(
        {"CACHE_TYPE": "MemcachedCache", "CACHE_MEMCACHED_SERVERS": [server.address]})),
}


def _timed(calls: int, call: Callable[[int], None], greenlets: bool) -> dict:
    spent = []
    if greenlets:
        import gevent

    def timed(i: int) -> None:
        began = time.perf_counter()
        call(i)
        spent.append((time.perf_counter() - began) * 1e6)

    for i in range(calls):
        if greenlets:
            gevent.spawn(timed, i).get()
        else:
            timed(i)
    spent.sort()
    return {"median_us": round(statistics.median(spent), 1),
            "p90_us": round(spent[int(len(spent) * 0.9)], 1)}


def measure(shared: SharedTier, size: int, calls: int,
            greenlets: bool = False) -> dict[str, dict]:
    """Per-call microseconds of each operation, each call in a new greenlet if `greenlets`;
    raises if a hit does not return its value."""
    value = os.urandom(size)
    # Stores go round a ring of keys, so that the servers hold a few megabytes, not `calls`
    # values; the hits read the batch stored last.
    ring = [memcached_key("tiles", f"bench|{size}|{i}") for i in range(RING)]
    batch = [memcached_key("tiles", f"bench|{size}|batch|{i}") for i in range(BATCH)]
    results = {"set": _timed(calls, lambda i: shared.set_many({ring[i % RING]: value}),
                             greenlets)}
    shared.set_many({key: value for key in batch})
    deadline = time.monotonic() + 5  # unanswered stores land a moment later
    while len(shared.get_many(batch)) < BATCH and time.monotonic() < deadline:
        time.sleep(0.01)

    def hit(i: int) -> None:
        key = batch[i % BATCH]
        if shared.get_many([key]) != {key: value}:
            raise RuntimeError(f"{type(shared).__name__} lost a stored value")

    def many(i: int) -> None:
        if shared.get_many(batch) != dict.fromkeys(batch, value):
            raise RuntimeError(f"{type(shared).__name__} lost stored values")

    results["get hit"] = _timed(calls, hit, greenlets)
    results["get miss"] = _timed(calls, lambda i: shared.get_many(
        [memcached_key("tiles", f"absent|{i}")]), greenlets)
    results[f"get_many of {BATCH}"] = _timed(calls, many, greenlets)
    return results


def run(sizes: list[int], calls: int, greenlets: bool = False) -> list[dict]:
    rows = []
    for name, (service, make_tier) in TIERS.items():
        server = service().start()
        try:
            shared = make_tier(server)
            for size in sizes:
                for operation, figures in measure(shared, size, calls, greenlets).items():
                    rows.append({"tier": name, "bytes": size, "operation": operation,
                                 **figures})
        finally:
            server.stop()
    return rows


def to_markdown(rows: list[dict]) -> str:
    tiers = list(dict.fromkeys(r["tier"] for r in rows))
    lines = ["| value | operation | " + " | ".join(f"{t} median (p90) µs" for t in tiers) + " |",
             "|---|---|" + "---|" * len(tiers)]
    cells: dict[tuple, dict] = {}
    for r in rows:
        cells.setdefault((r["bytes"], r["operation"]), {})[r["tier"]] = r
    for (size, operation), by_tier in cells.items():
        lines.append(f"| {size // 1024} KiB | {operation} | " + " | ".join(
            f"{by_tier[t]['median_us']} ({by_tier[t]['p90_us']})" for t in tiers) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per operation")
    parser.add_argument("--sizes", default="32768,262144",
                        help="value sizes in bytes, comma-separated (a tile, a block)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = run([int(s) for s in args.sizes.split(",")], args.calls, greenlets=True)
    print(to_markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
