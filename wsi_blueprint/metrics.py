"""Prometheus metrics: the process counters, request latency, open slides and the version.

Under gunicorn every worker writes its figures to files in PROMETHEUS_MULTIPROC_DIR (set by
conf/gunicorn.conf.py before any worker starts) and /metrics adds up all workers, so a scrape
answered by any worker reports the whole server. Mounted in a plain host app, the process's
own registry is used.
"""

import os
import threading

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest, multiprocess)

from . import __version__

disable_created_metrics()  # the *_created series only double the size of every scrape

# Label names of the counters that carry labels; every other counter has none.
LABELS = {
    "store_requests": ("kind",), "store_errors": ("kind",),
    "cache_hits": ("cache", "tier"), "cache_misses": ("cache",),
    "cache_lease_waits": ("cache",), "cache_decode_errors": ("cache",),
    "store_cost_dollars": ("purpose",),
    "tile_requests": ("policy", "source"),
    "prefetch_jobs": ("reason", "policy"), "prefetch_bytes": ("policy", "reason"),
    "prefetch_used_bytes": ("policy", "reason"), "prefetch_store_requests": ("policy", "reason"),
    "prefetch_dropped": ("why", "policy", "reason"), "prefetch_cancelled": ("policy", "reason"),
    "prefetch_predictions": ("outcome", "policy"), "prefetch_rule_slides": ("rule", "policy"),
    "prefetch_control_changes": ("parameter",),
    "prefetch_tiles_rendered": ("policy",), "prefetch_tiles_used": ("policy",),
}
HELP = {
    "store_requests": "Requests sent to the object store (kind=list for listings)",
    "store_bytes": "Bytes read from the object store",
    "store_retries": "Store reads tried again after a failure",
    "store_errors": "Failed store attempts, by error code",
    "store_presigns": "Presigned URLs signed",
    "store_resigns": "Presigned URLs signed again after the store refused one",
    "cache_hits": "Cache hits by cache and tier (l1 in process, l2 memcached)",
    "cache_misses": "Cache misses by cache",
    "memcached_errors": "Failed memcached calls (each is a miss)",
    "memcached_oversize": "Values kept out of memcached for their size",
    "slide_opens": "Slides opened (object probed, block reader made)",
    "slide_parses": "Slide structures parsed (metadata cache misses)",
    "slide_reopens": "Slides opened again after their object changed",
    "store_cost_dollars": "Price of store traffic (purpose=all, or prefetch's share)",
    "tile_requests": "Image requests by prefetch policy, answered from cache or the store",
    "prefetch_jobs": "Prefetch work done, by reason (overview, rule, pan_e, zoom_in...)",
    "prefetch_bytes": "Bytes prefetched from the store, by the predictor (reason) that asked",
    "prefetch_used_bytes": "Prefetched bytes that demand requests then read, by predictor",
    "prefetch_store_requests": "Store requests made by prefetching, by predictor",
    "prefetch_dropped": "Prefetch work dropped (budget, rate, leased, queue, busy, throttled, "
                        "error), by predictor",
    "prefetch_cancelled": "Prefetch work cancelled because the viewer moved on, by predictor",
    "prefetch_predictions": "Viewer operations the model had predicted (hit) or not (miss)",
    "prefetch_rule_slides": "Related slides warmed by clinical-context rules",
    "prefetch_control_changes": "Changes the prefetch control loop made, by parameter",
    "prefetch_tiles_rendered": "Resampled tiles rendered ahead of the viewer into the tile cache",
    "prefetch_tiles_used": "Tiles rendered ahead that a viewer then asked for",
    "store_seconds": "Seconds spent in store requests",
    "block_runs": "Runs of blocks fetched from the store",
    "block_runs_sequential": "Runs that continued the previous run of the same object",
    "read_ahead_bytes": "Bytes store reads brought beyond the blocks asked for (read size)",
    "read_ahead_used_bytes": "Bytes read ahead that a viewer's request then read",
}

REQUEST_SECONDS = Histogram(
    "wsi_request_duration_seconds",
    "Time to answer a request, by route, status and (image requests) prefetch policy",
    ("endpoint", "status", "policy"),
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OPEN_SLIDES = Gauge("wsi_open_slides", "Slides held open by the worker",
                    multiprocess_mode="livesum")
PREFETCH_PARAMETER = Gauge("wsi_prefetch_parameter",
                           "Prefetch parameters the control loop chose, per worker",
                           ("name",), multiprocess_mode="liveall")

BUILD_INFO = Gauge("wsi_build_info", "Always 1; the running wsi_blueprint's version as a label",
                   ("version",), multiprocess_mode="max")
BUILD_INFO.labels(__version__).set(1)

_counters: dict[str, Counter] = {}
_lock = threading.Lock()
# Labelled children by their labels: prometheus-client looks a child up under a lock on every
# call, and a cached tile counts three figures.
_children: dict[tuple, object] = {}


def _counter(name: str) -> Counter:
    with _lock:
        metric = _counters.get(name)
        if metric is None:
            metric = _counters[name] = Counter(
                f"wsi_{name}", HELP.get(name, name.replace("_", " ")), LABELS.get(name, ()))
        return metric


def export(name: str, amount: float, labels: dict) -> None:
    """A `Counters` observer: every increment also goes to Prometheus."""
    key = (name, *labels.items())
    child = _children.get(key)
    if child is None:
        metric = _counter(name)
        names = LABELS.get(name, ())
        child = _children[key] = (metric.labels(*(labels.get(n, "") for n in names))
                                  if names else metric)
    child.inc(amount)


def observe_request(endpoint: str, status: int, policy: str, seconds: float) -> None:
    """One answered request in REQUEST_SECONDS."""
    key = ("request_seconds", endpoint, status, policy)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUEST_SECONDS.labels(endpoint, str(status), policy)
    child.observe(seconds)


def scrape() -> tuple[bytes, str]:
    """The text exposition of every worker (multiprocess) or of this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
