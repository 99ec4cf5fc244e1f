"""The real standalone server in a subprocess, for browser, ops and load tests.

    server = LiveServer(folder).start()      # or: with LiveServer(folder) as server:
    requests.get(server.url + "healthz")
    server.stop()

It runs exactly what the README tells an operator to run, `gunicorn -c conf/gunicorn.conf.py
wsgi:app` from the repository root, configured only through the environment: WSI_BIND on a free
loopback port, WEB_CONCURRENCY workers and WSI_STORE=file://<folder>, plus any WSI_* values the
caller gives. Inherited WSI_* variables are dropped so the caller alone decides the settings.
The config turns gunicorn's per-user control socket off, so servers can run side by side.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from wsi_blueprint.bench.services import free_port

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


class LiveServer:
    def __init__(self, folder, *, workers: int = 2, env: dict | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 10.0) -> None:
        self.folder = os.path.abspath(folder)
        self.workers = workers
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None
        self._last_log = ""
        self._log = tempfile.NamedTemporaryFile(prefix="wsi-live-server-", suffix=".log")

    @property
    def log(self) -> str:
        """Everything gunicorn wrote (access log and errors); still readable after stop()."""
        if not self._log.closed:
            with open(self._log.name, encoding="utf-8", errors="replace") as f:
                self._last_log = f.read()
        return self._last_log

    def start(self) -> "LiveServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith("WSI_")}
        env.update(WSI_BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=str(self.workers),
                   WSI_STORE=f"file://{self.folder}", PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        # python -m gunicorn: the gunicorn of the interpreter running the tests, not whatever
        # `gunicorn` comes first on PATH. Its own session, so stop() can reach the workers too.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "conf/gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
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
                raise RuntimeError(f"gunicorn exited with status {self.process.returncode} "
                                   f"before answering /healthz:\n{self.log[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.url}healthz did not answer within {self.start_timeout} s:"
                           f"\n{self.log[-4000:]}")

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

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
