"""gunicorn settings for the standalone server, shared by conf/gunicorn.conf.py and the CLI,
and the check of every WSI_* setting that runs in the master before anything starts.

gevent workers: one per core, each serving many viewers at once; CPU work leaves the event loop
for a native thread pool inside the worker. Nothing that holds a socket is created before the
fork: the app (store sessions, memcached pools) is built in each worker.
"""

import functools
import json
import logging
import os
import shutil
import tempfile
import time

from .prefetch.policy import parse_policies
from .prefetch.rules import load_rules
from .settings import Settings
from .viewer import assets
from .worker_balance import WorkerBalance

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_made_metrics_dirs: list[str] = []  # made by prepare_metrics_dir, removed when the master exits


def prepare_metrics_dir() -> str:
    """A fresh folder where every worker writes its Prometheus figures; set in the environment
    before any worker starts (prometheus-client reads it at import). Reuses the operator's
    folder if one is set, emptied: figures of a previous run must not add up with ours."""
    folder = os.environ.get(METRICS_DIR)
    if not folder:
        folder = tempfile.mkdtemp(prefix="wsi-metrics-")
        _made_metrics_dirs.append(folder)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    os.environ[METRICS_DIR] = folder
    return folder


def _remove_made_metrics_dirs(server) -> None:
    """gunicorn's on_exit: a folder the server made for itself goes with it, so that servers
    started and stopped again and again (tests, benchmarks, a crash-looping pod) leave no trail
    in the temp folder. An operator's folder stays."""
    while _made_metrics_dirs:
        shutil.rmtree(_made_metrics_dirs.pop(), ignore_errors=True)


def validated_settings(mapping) -> Settings:
    """The settings of `mapping` (WSI_* keys), each checked against its allowed values, the
    prefetch policies and rules file parsed too; a ValueError names the first wrong one."""
    settings = Settings.from_mapping(mapping)
    parse_policies(settings.prefetch_policies)
    load_rules(settings.prefetch_rules)
    return settings


def settings_or_exit(env=os.environ) -> Settings:
    """The environment's settings, or exit with one line naming the wrong one: checked in the
    master before any port is bound or worker started, so a bad value never reaches a worker
    (which gunicorn would boot again and again)."""
    try:
        return validated_settings(env)
    except ValueError as error:  # SettingError, RulesError and the policies' own
        raise SystemExit(f"wsi_blueprint: {error}") from None


def _say_if_viewer_missing(server) -> None:
    if not assets.installed():
        server.log.warning("the viewer's OpenSeadragon files are missing from %s: /view/<id> "
                           "answers 503 (fetch them with `python -m wsi_blueprint.viewer."
                           "assets`)", assets.VENDOR)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines (WSI_LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


# The access log as JSON; gunicorn fills the %(...)s atoms, all of which are JSON-safe strings
# or numbers here (the request line and agent are escaped by gunicorn's own quoting).
JSON_ACCESS_FORMAT = ('{"time": "%(time)s", "remote": "%(h)s", "request": "%(r)s", '
                      '"status": %(s)s, "bytes": "%(B)s", "ms": %(M)s, "agent": "%(a)s"}')
# The text access line, dated like the other text lines; %(M)s is the request time in ms.
TEXT_ACCESS_FORMAT = '%(asctime)s %(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Adds the time atoms above and keeps access tokens out of every access line.
LOGGER_CLASS = "wsi_blueprint.access_log.RedactingLogger"


TEXT_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def _logging(json_lines: bool) -> dict:
    """Every logger at INFO to stdout (the package's own lines too: control loop changes,
    store trouble), as JSON lines or as gunicorn's text."""
    def handler(formatter: str) -> dict:
        return {"class": "logging.StreamHandler", "formatter": formatter,
                "stream": "ext://sys.stdout"}

    main = {"()": JsonFormatter} if json_lines else {"format": TEXT_FORMAT,
                                                     "datefmt": "[%Y-%m-%d %H:%M:%S %z]"}
    return {
        "version": 1, "disable_existing_loggers": False,
        # Access lines are formatted by gunicorn (JSON_ACCESS_FORMAT or the text one): written
        # as they are.
        "formatters": {"main": main, "raw": {"format": "%(message)s"}},
        "handlers": {"console": handler("main"), "access": handler("raw")},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


def _worker_exited(balance: WorkerBalance, server, worker) -> None:
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
    balance.child_exit(server, worker)


TURN_TIMEOUT = 0.05  # seconds a request waits at most for the others' turn


def take_turn(worker, req) -> None:
    """Before each request, let every connection with a request waiting go first.

    A browser sends a tile request on a keep-alive connection the moment the previous response
    arrives, often before the worker has finished with that response (access log, clean-up).
    The worker's next read on that connection then finds the request already there and serves
    it without yielding, again and again, while the viewer's other connections wait (a p99
    of 240 ms for cached tiles). Waiting for the event loop to go idle serves them in turn at
    the same throughput (docs/design/serving.md).
    Bounded: a loop that never goes idle (events pending at every turn) delays a request by
    TURN_TIMEOUT at most."""
    if _in_gevent_worker():
        import gevent
        with gevent.Timeout(TURN_TIMEOUT, False):
            gevent.idle()


@functools.cache
def _in_gevent_worker() -> bool:
    """Whether gevent patched this worker (asked once: the hook runs before every request; a
    worker is patched before it serves any)."""
    from gevent import monkey
    return monkey.is_module_patched("socket")


def gunicorn_options(env=os.environ) -> dict:
    cores = os.cpu_count() or 1
    balance = WorkerBalance()  # made here, in the master: the workers share it
    json_logs = env.get("WSI_LOG_FORMAT", "text").lower() == "json"
    options = {
        "bind": env.get("WSI_BIND", "0.0.0.0:8000"),
        "workers": int(env.get("WEB_CONCURRENCY", cores)),
        "worker_class": "gevent",
        "worker_connections": int(env.get("WSI_WORKER_CONNECTIONS", 1000)),
        "preload_app": False,
        "timeout": int(env.get("WSI_WORKER_TIMEOUT", 60)),
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": TEXT_ACCESS_FORMAT,
        "logger_class": LOGGER_CLASS,
        # One gunicorn per user shares a control socket by default; servers side by side
        # (tests, several instances) must not.
        "control_socket_disable": True,
        "pre_fork": balance.pre_fork,
        "post_worker_init": balance.post_worker_init,
        "child_exit": functools.partial(_worker_exited, balance),
        "pre_request": take_turn,
        "on_starting": _say_if_viewer_missing,
        "on_exit": _remove_made_metrics_dirs,
        "logconfig_dict": _logging(json_logs),
    }
    if json_logs:
        options["access_log_format"] = JSON_ACCESS_FORMAT
    return options
