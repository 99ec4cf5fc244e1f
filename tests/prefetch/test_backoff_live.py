"""Load-aware throttling on a real server: prefetch backs off under saturation and resumes
after, and the load signals it reads (event-loop lag, CPU) measure what they claim.

The server is one gevent worker with a half-second control period. A light viewer asks for one
native tile every 0.3 s, each time as a new viewing session, so every request has the
prefetcher plan the slide's tables and overview (for this one-level slide: all of it) and
keeps the control loop turning (it runs on requests). Prefetch work counts as a job only where
it fetches something, so the viewer is pointed at a cold copy of the slide whenever a phase
needs to see whether prefetch runs. Saturation is many clients at once asking for distinct
IIIF regions (decoded, resampled, encoded) of another copy.
"""

import functools
import random
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests

from helpers import testdata_path
from live_server import LiveServer
from wsi_blueprint.bench.replay import metric_total, scrape_metrics
from wsi_blueprint.prefetch.load_signals import LoadSignals

SLIDE = "CMU-1-Small-Region.svs"  # one level, 2220 x 2967, 130 JPEG tiles
SATURATORS = 16  # more demand in flight than the controller's busy_demand, CPU flat out


def test_load_signals_run_on_plain_threads_and_stop():
    signals = LoadSignals(tick=0.01)
    signals.start()
    before = signals.readings()
    time.sleep(0.2)
    after = signals.readings()
    signals.stop()
    assert after["wakeups"] - before["wakeups"] >= 5
    assert after["wall_seconds"] - before["wall_seconds"] >= 0.2
    deadline = time.monotonic() + 2
    while any(t.name == "wsi-loop-lag" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the ticker did not stop"
        time.sleep(0.01)


GEVENT_LOOP = """
from gevent import monkey
monkey.patch_all()
import time
from wsi_blueprint.prefetch.load_signals import LoadSignals

signals = LoadSignals()
signals.start()
time.sleep(0.5)  # yields to the loop: the ticker wakes on time
calm = signals.readings()
start = time.process_time()
while time.process_time() < start + 0.3:  # Python work that never yields holds the loop
    pass
time.sleep(0.2)
held = signals.readings()
signals.stop()
print(calm["lag_seconds"] / calm["wakeups"], held["lag_seconds"] - calm["lag_seconds"],
      held["cpu_seconds"] - calm["cpu_seconds"])
"""


def test_load_signals_see_a_gevent_loop_held_by_python_work():
    out = subprocess.run([sys.executable, "-c", GEVENT_LOOP], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    calm_lag, held_lag, held_cpu = map(float, out.stdout.split())
    assert calm_lag < 0.025  # under the controller's busy_lag_ms, even on a busy machine
    assert held_lag >= 0.25  # the ticker slept through most of the 0.3 s hold
    assert held_cpu >= 0.3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backoff")
    for name in ("light-0.svs", "light-1.svs", "busy.svs"):
        shutil.copy(testdata_path(SLIDE), folder / name)
    # Reads of one block: a larger unit would read these small slides whole on demand.
    with LiveServer(folder, workers=1, env={"WSI_PREFETCH_CONTROL_PERIOD": "0.5",
                                            "WSI_PREFETCH_READ_SIZE": "256K"}) as live:
        yield live


def figure(server, metric: str, /, **labels) -> float:
    """Sum of the samples of `metric` on /metrics whose labels include `labels`."""
    samples = scrape_metrics(server.url, timeout=10)
    assert samples, "/metrics did not answer"
    return metric_total(samples, metric, **labels)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


class Clients:
    """Viewer threads with a common stop, each request bounded by a timeout."""

    def __init__(self):
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.statuses: list = []  # status codes, or the errors of requests that failed

    def run(self, ask) -> None:
        """`ask(http, i)` makes the i-th request and says how long to pause after it."""
        def loop():
            with requests.Session() as http:
                i = 0
                while not self.stop.is_set():
                    try:
                        response, pause = ask(http, i)
                        self.statuses.append(response.status_code)
                    except requests.RequestException as error:
                        self.statuses.append(repr(error))
                        pause = 0.3
                    i += 1
                    self.stop.wait(pause)

        thread = threading.Thread(target=loop, daemon=True)
        self.threads.append(thread)
        thread.start()

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads)


def test_prefetch_backs_off_under_saturation_and_resumes_after(server):
    throttled = functools.partial(figure, server, "wsi_prefetch_parameter", name="throttled")
    jobs = functools.partial(figure, server, "wsi_prefetch_jobs_total")
    dropped = functools.partial(figure, server, "wsi_prefetch_dropped_total", why="throttled")
    changes = functools.partial(figure, server, "wsi_prefetch_control_changes_total",
                                parameter="throttled")
    viewing = {"slide": "light-0.svs"}
    light, busy = Clients(), Clients()

    def view(http, i):
        return http.get(f"{server.url}tiles/{viewing['slide']}/0/0/0.jpg", timeout=30,
                        headers={"X-WSI-Session": f"light-{i}"}), 0.3

    def saturate(k):
        rng = random.Random(k)

        def ask(http, i):
            x, y = rng.randrange(0, 2220 - 512), rng.randrange(0, 2967 - 512)
            return http.get(f"{server.url}iiif/3/busy.svs/{x},{y},512,512/256,/0/default.jpg",
                            headers={"X-WSI-Session": f"busy-{k}"}, timeout=30), 0
        return ask

    try:
        # 1. A light viewer: prefetch runs.
        light.run(view)
        wait_for(lambda: jobs() >= 1, 20, "prefetch warms the slide a light viewer opened")
        assert throttled() == 0

        # 2. Saturation: throttled, and cold work is dropped, none of it done.
        for k in range(SATURATORS):
            busy.run(saturate(k))
        wait_for(lambda: throttled() == 1, 30, "prefetch throttled under saturation")
        changes_before = changes()
        time.sleep(2)  # work that passed the throttle check before it came on finishes
        jobs_before, dropped_before, asked = jobs(), dropped(), len(light.statuses)
        viewing["slide"] = "light-1.svs"  # cold: prefetch would fetch all of it
        wait_for(lambda: len(light.statuses) >= asked + 5, 30,
                 "the light viewer opens the cold slide in new sessions")
        assert changes() == changes_before, "throttling lifted under saturation"
        assert dropped() >= dropped_before + 8  # each session's tables and overview, at least
        assert jobs() == jobs_before

        # 3. Load removed: throttling lifts and prefetch warms the cold slide.
        busy.end()
        wait_for(lambda: throttled() == 0, 30, "throttling lifted once the load is gone")
        wait_for(lambda: jobs() > jobs_before, 20, "prefetch resumed")
    finally:
        busy.end()
        light.end()
    assert set(light.statuses) == {200} and set(busy.statuses) == {200}
