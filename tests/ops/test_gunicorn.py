"""The standalone server as operators run it: gunicorn from conf/gunicorn.conf.py, gevent
workers, metrics added up across workers, Server-Timing, logs."""

import concurrent.futures
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from helpers import testdata_path
from live_server import LiveServer
from wsi_blueprint.bench.replay import Connections
from wsi_blueprint.serving import TURN_TIMEOUT
from wsi_blueprint.worker_balance import DEFER_LIMIT

SLIDE = "CMU-1-Small-Region.svs"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path(SLIDE), folder / SLIDE)
    shutil.copy(testdata_path(SLIDE), folder / "untouched.svs")  # cold for Server-Timing
    return folder


@pytest.fixture(scope="module")
def server(folder):
    with LiveServer(folder, workers=2) as live:
        yield live


def metric(text: str, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def test_smoke_requests(server):
    session = requests.Session()
    for path, kind in [("healthz", "application/json"), ("readyz", "application/json"),
                       ("slides", "application/json"), (f"slides/{SLIDE}", "application/json"),
                       (f"dzi/{SLIDE}.dzi", "application/xml"),
                       (f"dzi/{SLIDE}_files/12/0_0.jpeg", "image/jpeg"),
                       (f"iiif/3/{SLIDE}/info.json", "application/json"),
                       (f"iiif/3/{SLIDE}/full/256,/0/default.jpg", "image/jpeg"),
                       (f"slides/{SLIDE}/thumbnail", "image/jpeg"),
                       (f"view/{SLIDE}", "text/html")]:
        response = session.get(server.url + path, timeout=30)
        assert response.status_code == 200, (path, response.text[:200])
        assert response.headers["Content-Type"].startswith(kind), path
        assert "gunicorn/" not in response.headers.get("Server", "")  # no version banner
    assert session.get(server.url + "nope", timeout=10).json()["status"] == 404


def test_metrics_add_up_across_workers(server):
    urls = [server.url + f"dzi/{SLIDE}_files/{level}/{col}_{row}.jpeg"
            for level, cols, rows in ((12, 10, 13), (11, 5, 7))
            for col in range(cols) for row in range(rows)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda u: requests.get(u, timeout=30).status_code, urls))
    assert statuses == [200] * len(urls)
    for _ in range(6):  # scrapes land on either worker; each reports the whole server
        text = requests.get(server.url + "metrics", timeout=10).text
        assert metric(text, "wsi_request_duration_seconds_count",
                      endpoint="dzi_tile", status="200") >= len(urls)
    assert metric(text, "wsi_store_requests_total") > 0
    assert metric(text, "wsi_cache_hits_total", cache="blocks", tier="l1") > 0
    assert metric(text, "wsi_open_slides") >= 1


def test_tiles_were_served_by_both_workers(server):
    for _ in range(40):
        requests.get(server.url + f"dzi/{SLIDE}_files/10/0_0.jpeg", timeout=30)
    workers = set(re.findall(r"^\[[^\]]*\] \[(\d+)\]", server.log, re.M))
    assert len(workers) >= 2, server.log[-2000:]


def test_server_timing_and_access_log_latency(server):
    response = requests.get(server.url + "iiif/3/untouched.svs/0,0,1000,1000/300,/0/default.png",
                            timeout=30)
    timing = response.headers["Server-Timing"]
    assert re.search(r"store;dur=[\d.]+", timing) and "decode;dur=" in timing
    assert "assemble;dur=" in timing  # canvas, resampling and encoding: one pool job
    assert re.search(r'"GET /iiif/3/[^"]+" 200 \d+ \d+ms', server.log)


def test_json_logs(folder):
    with LiveServer(folder, workers=1, env={"WSI_LOG_FORMAT": "json"}) as live:
        requests.get(live.url + "healthz", timeout=10)
        requests.get(live.url + "healthz", timeout=10)
        entries = [json.loads(line) for line in live.log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e.get("request", "").startswith("GET /healthz")]
    assert access and access[0]["status"] == 200 and isinstance(access[0]["ms"], int)
    assert any(e.get("level") == "INFO" for e in entries)


def test_text_logs_carry_the_packages_own_lines(folder):
    """The package logs at INFO (control loop changes, slides that fail to parse). In text mode
    too, gunicorn applies our logging set-up (its own lines show it: logger names added)..."""
    with LiveServer(folder, workers=1) as live:
        assert requests.get(live.url + "healthz", timeout=10).status_code == 200
    log = live.log  # after the stop: a worker writes a line after its answer
    assert re.search(r"\[INFO\] gunicorn\.error: Booting worker", log)
    assert re.search(r'"GET /healthz HTTP/1.1" 200 \d+ \d+ms', log)  # access lines as before
    # ...and under that set-up a package INFO line is written, in the same format.
    script = ("import logging, logging.config; from wsi_blueprint.serving import "
              "gunicorn_options; logging.config.dictConfig(gunicorn_options({})"
              "['logconfig_dict']); logging.getLogger('wsi_blueprint.prefetch.controller')"
              ".info('prefetch control: depth 1 -> 2')")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=30).stdout
    assert re.search(r"^\[[^\]]+\] \[\d+\] \[INFO\] wsi_blueprint\.prefetch\.controller: "
                     r"prefetch control: depth 1 -> 2$", out, re.M)


def test_sign_cli_token_opens_a_protected_slide(folder):
    env = {"WSI_AUTH_SECRET": "k1:cli-test-secret-key"}
    with LiveServer(folder, workers=1, env=env) as live:
        signed = subprocess.run(
            [sys.executable, "-m", "wsi_blueprint.cli", "sign", SLIDE, "--base-url", live.url],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
        answer = json.loads(signed.stdout)
        assert requests.get(live.url + f"slides/{SLIDE}", timeout=10).status_code == 401
        assert requests.get(answer["viewer"], timeout=10).status_code == 200


def test_a_connection_with_requests_queued_does_not_starve_the_others(folder):
    """A viewer's connections are served in turn. Connection A sends 200 requests for cached
    tiles back to back (pipelined: each next one is already waiting when the last is answered,
    as a browser's next tile request often is); B sends one request while A's are served. B's
    must not wait for all of A's: one worker, so the access log is the order of service."""

    tile_a, tile_b = f"dzi/{SLIDE}_files/12/0_0.jpeg", f"dzi/{SLIDE}_files/11/0_0.jpeg"
    with LiveServer(folder, workers=1) as live:
        for tile in (tile_a, tile_b):  # cached from now on
            assert requests.get(live.url + tile, timeout=30).status_code == 200
        host, port = live.url.split("//")[1].rstrip("/").split(":")

        def request(path: str) -> bytes:
            return f"GET /{path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

        a, b = (socket.create_connection((host, int(port)), timeout=30) for _ in range(2))
        a.sendall(request(tile_a) * 200)
        time.sleep(0.01)
        b.sendall(request(tile_b))
        for sock, responses in ((b, 1), (a, 200)):  # read every response before stopping
            received = b""
            while received.count(b"HTTP/1.1 200") < responses:
                received += sock.recv(1 << 20)
        a.close()
        b.close()
    # Read once the server has stopped: an access line is written after its response is sent.
    served = [line for line in live.log.splitlines() if '"GET /dzi/' in line][2:]
    assert len(served) == 201
    position = next(i for i, line in enumerate(served) if tile_b in line)
    assert position < 100, f"B was served after {position} of A's requests"


TURN_PROBE = r"""
from gevent import monkey
monkey.patch_all()
import time
import gevent
from wsi_blueprint.serving import take_turn

stop = False

def busy():
    while not stop:
        gevent.sleep(0)  # a callback pending at every turn: the loop never goes idle

worker = gevent.spawn(busy)
gevent.sleep(0.01)
began = time.perf_counter()
take_turn(None, None)
print(time.perf_counter() - began)
stop = True
worker.join()
"""


def test_taking_turns_is_bounded_when_the_loop_never_goes_idle():
    """Under load the event loop may have events pending at every turn; a request then waits
    for its turn TURN_TIMEOUT at most, never for good."""
    done = subprocess.run([sys.executable, "-c", TURN_PROBE], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
    assert TURN_TIMEOUT <= float(done.stdout) < TURN_TIMEOUT + 0.5


def _workers(live) -> list[int]:
    pids = []
    for task in glob.glob(f"/proc/{live.process.pid}/task/*/children"):
        with open(task) as f:
            pids += [int(pid) for pid in f.read().split()]
    return pids


def _connections_per_worker(live, states=("01",)) -> list[int]:
    """How many connections each worker holds (from /proc: the server side's socket inodes on
    the server's port in one of `states`, 01 established, found among each worker's open
    files)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] in states and int(fields[1].split(":")[1], 16) == live.port:
                inodes.add(fields[9])
    counts = []
    for pid in _workers(live):
        links = {os.readlink(fd) for fd in glob.glob(f"/proc/{pid}/fd/*")
                 if os.path.islink(fd)}
        counts.append(sum(f"socket:[{inode}]" in links for inode in inodes))
    return sorted(counts, reverse=True)


def test_a_viewers_six_connections_are_spread_over_the_workers(folder):
    """A browser opens six connections at once. Without balancing, whichever worker is awake
    accepts most of them (6/0, 5/1 and 4/2 in two trials of three here), and they stay with
    it for the whole session. A worker that waited DEFER_LIMIT for its peer accepts anyway,
    so on a loaded machine a trial may end 4/2."""
    tiles = [f"dzi/{SLIDE}_files/12/{col}_0.jpeg" for col in range(6)]
    with LiveServer(folder, workers=2) as live:
        splits = []
        for _ in range(5):
            connections, opened = Connections(live.url, timeout=30), threading.Barrier(6)

            def browse(tile):  # a connection per thread, all six opened at once
                opened.wait(10)
                assert connections.get(tile)[0] == 200

            threads = [threading.Thread(target=browse, args=(tile,)) for tile in tiles]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            splits.append(_connections_per_worker(live))
            connections.close()
            time.sleep(0.3)  # the workers see them closed
    assert all(split in ([3, 3], [4, 2]) for split in splits), splits
    assert splits.count([3, 3]) >= 3, splits


def _wait_until_no_worker_holds_a_connection(live, timeout=10.0) -> None:
    """A worker counts a connection until it has closed its socket, in any TCP state but
    listening (0A); stopping a worker that still counts one would leave the counts even."""
    every_state_but_listen = tuple(f"{state:02X}" for state in range(1, 12) if state != 10)
    deadline = time.monotonic() + timeout
    while any(_connections_per_worker(live, every_state_but_listen)):
        assert time.monotonic() < deadline, "the workers kept connections open"
        time.sleep(0.02)


def test_a_stopped_worker_holds_new_connections_back_only_briefly(folder):
    """A worker with more connections than another lets that one accept first, but not for
    long: here the other worker is stopped (SIGSTOP) and the second connection is still served
    by the first worker at once."""
    tile = f"dzi/{SLIDE}_files/12/0_0.jpeg"
    with LiveServer(folder, workers=2) as live:
        host_port = ("127.0.0.1", live.port)
        _wait_until_no_worker_holds_a_connection(live)  # the start's health probes closed
        stopped = _workers(live)[1]
        os.kill(stopped, signal.SIGSTOP)
        try:
            first = requests.Session()  # keeps its connection open
            assert first.get(live.url + tile, timeout=10).status_code == 200
            began = time.perf_counter()
            with socket.create_connection(host_port, timeout=10) as second:
                second.sendall(f"GET /{tile} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert second.recv(64).startswith(b"HTTP/1.1 200")
            waited = time.perf_counter() - began
            first.close()
        finally:
            os.kill(stopped, signal.SIGCONT)
    assert DEFER_LIMIT <= waited < 1.0
