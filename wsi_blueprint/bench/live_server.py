"""Real servers in subprocesses, for benchmarks, browser, ops and load tests.

    server = LiveServer(folder).start()      # or: with LiveServer(folder) as server:
    requests.get(server.url + "healthz")
    server.stop()

`LiveServer` runs exactly what the README tells an operator to run, `gunicorn -c
conf/gunicorn.conf.py wsgi:app` from the repository root, configured only through the
environment: WSI_BIND on a free loopback port, WEB_CONCURRENCY workers and
WSI_STORE=file://<folder>, plus any WSI_* values the caller gives (which win, so `env=
{"WSI_STORE": "s3://..."}` serves a bucket). Inherited WSI_* variables are dropped so the
caller alone decides the settings. Outside a source checkout (an installed package) the same
settings are given as `-c python:wsi_blueprint.bench.gunicorn_conf wsi_blueprint.app:
create_app()`. The config turns gunicorn's per-user control socket off, so servers can run
side by side.

`GunicornServer` is the general part: any gunicorn command line, a free port, a health URL,
the log kept in a temporary file, a graceful stop that reaches the workers too.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from ..worker_balance import READY
from .services import free_port

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _in_checkout() -> bool:
    return (os.path.isfile(os.path.join(REPO_ROOT, "wsgi.py"))
            and os.path.isfile(os.path.join(REPO_ROOT, "conf", "gunicorn.conf.py")))


def cpu_list(text: str) -> str:
    """A taskset CPU list ("0", "0,1", "0-3") of CPUs this process may run on, for an
    argparse option; anything else is one clear error, not a server that fails to start."""
    try:
        cpus = set()
        for part in text.split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a CPU list such as 0 or 0,1") from None
    missing = sorted(cpus - os.sched_getaffinity(0))
    if not cpus or missing:
        raise argparse.ArgumentTypeError(
            f"{text}: CPUs {missing or text} are not among this machine's "
            f"{','.join(map(str, sorted(os.sched_getaffinity(0))))}")
    return text


class GunicornServer:
    """`python -m gunicorn ARGS` in its own session on a free loopback port.

    `args(port)` gives gunicorn's arguments; `env` is the whole environment of the server;
    `cpus` (a taskset list such as "0" or "0,1") pins the master and so every worker.
    """

    health_path = "healthz"

    def __init__(self, *, args, env: dict, cwd: str | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 10.0,
                 name: str = "gunicorn", cpus: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._args = args
        self.env = env
        self.cwd = cwd
        self.name = name
        self.cpus = cpus
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None
        self._last_log = ""
        self._log = tempfile.NamedTemporaryFile(prefix=f"wsi-{name}-", suffix=".log")

    @property
    def log(self) -> str:
        """Everything gunicorn wrote (access log and errors); still readable after stop()."""
        if not self._log.closed:
            with open(self._log.name, encoding="utf-8", errors="replace") as f:
                self._last_log = f.read()
        return self._last_log

    def start(self) -> "GunicornServer":
        # python -m gunicorn: the gunicorn of this interpreter, not whatever `gunicorn` comes
        # first on PATH. Its own session, so stop() can reach the workers too.
        pinned = ["taskset", "-c", self.cpus] if self.cpus else []
        self.process = subprocess.Popen(
            [*pinned, sys.executable, "-m", "gunicorn", *self._args(self.port)],
            cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode} "
                                   f"before answering /{self.health_path}:\n{self.log[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.url}{self.health_path} did not answer within "
                           f"{self.start_timeout} s:\n{self.log[-4000:]}")

    def _worker_pids(self) -> list[int]:
        """The master's children, its workers (Linux /proc; OSError elsewhere)."""
        pid = self.process.pid
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(worker) for worker in f.read().split()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the master and its workers have used so far: what a
        request costs, however busy the machine is with other work (Linux /proc)."""
        pids = [self.process.pid, *self._worker_pids()]
        ticks = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # a worker that has just exited
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to the whole group if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        if process is not None:
            try:  # the master's group: workers left behind by a master that died or hung
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(self.stop_timeout)
        self.log  # keep the text; closing deletes the file
        self._log.close()

    def worker_cpu_seconds(self) -> float | None:
        """CPU seconds the running workers' threads have spent on a core, from /proc's
        schedstat (nanoseconds: /proc/PID/stat counts clock ticks of 10 ms, more than a short
        screen of tiles costs a worker); None where there is no such /proc. Differences
        between two calls are what a run cost them (a worker's threads, its CPU pool among
        them, live as long as it does)."""
        try:
            total = 0
            for worker in self._worker_pids():
                for task in os.listdir(f"/proc/{worker}/task"):
                    with open(f"/proc/{worker}/task/{task}/schedstat") as f:
                        total += int(f.read().split()[0])
        except (OSError, AttributeError):
            return None
        return total / 1e9

    def worker_cpus(self) -> str | None:
        """The CPUs the running workers may run on, as a taskset list ("0", "0,1"): what
        `cpus` pinned them to, read back from the kernel; None where it cannot be read."""
        try:
            allowed = set().union(*(os.sched_getaffinity(w) for w in self._worker_pids()))
        except (OSError, AttributeError, TypeError):
            return None
        return ",".join(str(cpu) for cpu in sorted(allowed)) or None

    def __enter__(self) -> "GunicornServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LiveServer(GunicornServer):
    """The standalone wsi_blueprint server, as an operator starts it; `app` (a gunicorn app
    spec) serves another app under exactly the same settings."""

    def __init__(self, folder=None, *, workers: int = 2, env: dict | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 10.0,
                 app: str | None = None, cpus: str | None = None) -> None:
        self.folder = os.path.abspath(folder) if folder else None
        self.workers = workers
        self.extra_env = dict(env or {})
        # Settings come from the caller alone; each server's master makes its own metrics
        # folder (two servers sharing one would empty each other's figures at start).
        server_env = {k: v for k, v in os.environ.items()
                      if not k.startswith("WSI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        server_env.update(WEB_CONCURRENCY=str(workers), PYTHONUNBUFFERED="1")
        if self.folder:
            server_env["WSI_STORE"] = f"file://{self.folder}"
        server_env.update(self.extra_env)
        checkout = _in_checkout()

        def args(port: int) -> list[str]:
            server_env["WSI_BIND"] = f"127.0.0.1:{port}"
            if app:  # another app under the same settings (the bench's ceiling)
                return ["-c", "python:wsi_blueprint.bench.gunicorn_conf", app]
            if checkout:
                return ["-c", "conf/gunicorn.conf.py", "wsgi:app"]
            return ["-c", "python:wsi_blueprint.bench.gunicorn_conf",
                    "wsi_blueprint.app:create_app()"]

        super().__init__(args=args, env=server_env, cwd=REPO_ROOT if checkout else None,
                         start_timeout=start_timeout, stop_timeout=stop_timeout,
                         name="live-server", cpus=cpus)

    def start(self) -> "LiveServer":
        super().start()
        return self

    def _wait_healthy(self) -> None:
        """Healthy, and every worker taking connections: one worker answers /healthz while the
        others may still load the app, and connections opened then would all go to it."""
        began = time.monotonic()
        super()._wait_healthy()
        while self.log.count(READY) < self.workers:
            if time.monotonic() - began > self.start_timeout:
                raise RuntimeError(f"{self.workers} workers did not all start within "
                                   f"{self.start_timeout} s:\n{self.log[-4000:]}")
            time.sleep(0.05)

    def __enter__(self) -> "LiveServer":
        return self.start()
