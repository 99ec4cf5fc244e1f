"""Load and soak: many viewers at once, for minutes, over many distinct slides.

The real server (gunicorn, gevent workers, small caches) serves a folder in which a few
generated slides appear under `slides` distinct ids, so every viewer opens slides of its own.
Each viewer replays generated OpenSeadragon sessions, one request at a time, back to back,
until the time is up. Every few seconds the run samples the errors, the tile latency p95 of the
window, and each worker's resident memory: they must stay flat, and memory within the caches'
budgets, however many slides have been opened.

    python -m wsi_blueprint.bench.soak --viewers 200 --seconds 300 --slides 200
"""

import argparse
import dataclasses
import json
import os
import random
import re
import tempfile
import threading
import time

import requests

from . import traces as tr
from .live_server import LiveServer
from .replay import percentile
from .slidegen import QUICK_CASE, ensure_slides

CACHES = {"WSI_BLOCK_CACHE_BYTES": "64M", "WSI_TILE_CACHE_BYTES": "32M",
          "WSI_METADATA_CACHE_BYTES": "16M"}
CACHE_BUDGET = (64 + 32 + 16) * 2 ** 20


@dataclasses.dataclass
class Window:
    second: float
    requests: int
    errors: int
    p95_ms: float | None
    rss_mb: dict  # worker pid -> resident MB


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            match = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        return int(match.group(1)) / 1024 if match else None
    except OSError:
        return None


def _workers(server: LiveServer) -> list[int]:
    pids = [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", server.log)]
    return [p for p in pids if _rss_mb(p) is not None]


def _paths(records: list[dict]) -> dict[str, list[str]]:
    """Each session's request paths, in order."""
    sessions: dict[str, list[str]] = {}
    for record in records:
        sessions.setdefault(record["session"], []).append(record["url"])
    return sessions


def run(viewers: int, seconds: float, slides: int, window: float = 5.0,
        workers: int = 2) -> list[Window]:
    """`viewers` replaying sessions for `seconds` over `slides` distinct slides (links to the
    generated case in a folder removed afterwards), measured every `window` seconds."""
    with tempfile.TemporaryDirectory(prefix="wsi-soak-") as folder:
        return _soak(folder, viewers, seconds, slides, window, workers)


def _soak(folder: str, viewers: int, seconds: float, slides: int, window: float,
          workers: int) -> list[Window]:
    generated, _ = ensure_slides(QUICK_CASE, None, None, lambda *a: None)
    aliases = []
    for i in range(slides):  # distinct ids, distinct cache entries, one file each
        source = generated[i % len(generated)]
        alias = f"s{i:03d}-{os.path.basename(source.slide_id)}"
        os.link(os.path.realpath(source.path), os.path.join(folder, alias))
        aliases.append((alias, source))
    infos = {s.slide_id: tr.slide_info_from_file(s.path, s.slide_id) for s in generated}
    records = tr.generate(list(infos.values()), 4, 7, tr.QUICK)
    sessions = list(_paths(records).values())
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    stop = threading.Event()

    with LiveServer(folder, workers=workers, env={**CACHES, "WSI_PREFETCH": "on"}) as server:
        def viewer(number: int) -> None:
            rng = random.Random(number)
            session = requests.Session()
            while not stop.is_set():
                alias, source = aliases[rng.randrange(len(aliases))]
                for path in sessions[rng.randrange(len(sessions))]:
                    if stop.is_set():
                        return
                    if source.slide_id not in path:
                        continue
                    url = server.url + path.replace(source.slide_id, alias, 1)
                    began = time.perf_counter()
                    try:
                        ok = session.get(url, timeout=60).status_code == 200
                    except requests.RequestException:
                        ok = False
                    with lock:
                        counts["requests"] += 1
                        counts["errors"] += not ok
                        if ok and "_files/" in path:
                            latencies.append((time.perf_counter() - began) * 1000)

        # Second 0: the workers idle, before any viewer: the base memory grows from.
        windows = [Window(0.0, 0, 0, None, {pid: _rss_mb(pid) for pid in _workers(server)})]
        threads = [threading.Thread(target=viewer, args=(n,), daemon=True)
                   for n in range(viewers)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        last = dict(counts)
        while time.monotonic() - began < seconds:
            time.sleep(window)
            with lock:
                done = dict(counts)
                taken, latencies[:] = list(latencies), []
            windows.append(Window(round(time.monotonic() - began, 1),
                                  done["requests"] - last["requests"],
                                  done["errors"] - last["errors"], percentile(taken, 95),
                                  {pid: _rss_mb(pid) for pid in _workers(server)}))
            last = done
        stop.set()
        for thread in threads:
            thread.join(65)
    return windows


def to_markdown(windows: list[Window]) -> str:
    lines = ["| second | requests | errors | tile p95 ms | worker RSS MB |",
             "|---|---|---|---|---|"]
    for w in windows:
        rss = ", ".join(f"{v:.0f}" for v in w.rss_mb.values() if v)
        p95 = f"{w.p95_ms:.0f}" if w.p95_ms is not None else "-"
        lines.append(f"| {w.second:g} | {w.requests} | {w.errors} | {p95} | {rss} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--slides", type=int, default=200)
    parser.add_argument("--json", help="also write the windows to this file")
    args = parser.parse_args(argv)
    windows = run(args.viewers, args.seconds, args.slides)
    print(to_markdown(windows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dataclasses.asdict(w) for w in windows], f, indent=1)
    return 1 if any(w.errors for w in windows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
