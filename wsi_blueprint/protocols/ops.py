"""Operations routes: liveness, readiness (bounded in time) and Prometheus metrics."""

import threading

from flask import Blueprint, Response, jsonify

from .. import __version__, metrics
from ..errors import WSIError
from ..viewer import assets
from .context import state

READY_TIMEOUT = 2.0  # seconds each readiness check may take; a probe must answer promptly


def healthz():
    return jsonify({"status": "ok", "version": __version__})


def _within(seconds: float, check) -> str:
    """'ok', the check's error, or 'timed out': run in a thread (a greenlet under gevent)."""
    outcome = ["timed out"]

    def run() -> None:
        try:
            outcome[0] = check()
        except WSIError as error:
            outcome[0] = error.message
        except Exception as error:  # a probe reports every failure, it never raises
            outcome[0] = f"{type(error).__name__}"

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    return outcome[0]


def readyz():
    """Ready when the store answers and the shared cache does (every memcached server, or the
    host's cache), if one is configured. The viewer's files are reported beside the checks,
    not among them: the API serves without them."""
    current = state()

    def store() -> str:
        current.store.check()
        return "ok"

    checks = {"store": _within(READY_TIMEOUT, store)}
    if current.caches.shared is not None:
        shared = current.caches.shared

        def answered() -> str:
            silent = shared.unanswered()
            return f"no answer from {', '.join(silent)}" if silent else "ok"

        checks[shared.kind] = _within(READY_TIMEOUT, answered)
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks,
                        "viewer": "ok" if assets.installed() else "OpenSeadragon files missing"})
    response.status_code = 200 if ready else 503
    return response


def metrics_text():
    current = state()
    metrics.OPEN_SLIDES.set(current.library.open_count)
    if current.prefetcher is not None:
        parameters = current.prefetcher.controller.parameters
        metrics.PREFETCH_PARAMETER.labels("read_size").set(parameters.read_size)
        metrics.PREFETCH_PARAMETER.labels("depth").set(parameters.depth)
        metrics.PREFETCH_PARAMETER.labels("throttled").set(int(parameters.throttled))
    body, content_type = metrics.scrape()
    return Response(body, content_type=content_type)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/healthz", "healthz", healthz)
    bp.add_url_rule("/readyz", "readyz", readyz)
    bp.add_url_rule("/metrics", "metrics", metrics_text)
