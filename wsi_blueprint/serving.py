"""gunicorn settings for the standalone server, shared by conf/gunicorn.conf.py and the CLI.

gevent workers: one per core, each serving many viewers at once; CPU work leaves the event loop
for a native thread pool inside the worker. Nothing that holds a socket is created before the
fork: the app (store sessions, memcached pools) is built in each worker.
"""

import os


def gunicorn_options(env=os.environ) -> dict:
    cores = os.cpu_count() or 1
    return {
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
        # %(M)s: request time in milliseconds
        "access_log_format": '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"',
        # One gunicorn per user shares a control socket by default; servers side by side
        # (tests, several instances) must not.
        "control_socket_disable": True,
    }
