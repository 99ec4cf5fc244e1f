"""Replaying traces against a running server with a viewer's concurrency.

Each session is replayed on its own, step after step: a step's requests go out over
`concurrency` keep-alive connections (a browser's six per host), descriptor first, each with
the record's `headers` if it has any (a viewer's X-WSI-Session), and the next step starts when
the last of them has arrived (the view is loaded), after the session's own pause scaled by
`time_scale` (0: no pauses, the default for benchmarks). A recorded viewer's requests carry
their own times (`viewer_eval --trace`): each is sent no sooner than its time into the step,
scaled alike, as an animation spreads a move's requests over its frames. Figures per request:
status, bytes, latency (send to last byte); per step: time to load the view; per slide opened:
time to first tile (descriptor request sent -> first tile complete).

    python -m wsi_blueprint.bench.replay --server http://127.0.0.1:8000/ trace.jsonl
"""

import collections
import dataclasses
import http.client
import json
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from .traces import read_trace

STEP_GAP = 0.3  # seconds between requests of a recorded log that start a new step


@dataclasses.dataclass
class Step:
    session: str
    index: int
    t: float
    action: str
    slide: str
    requests: list  # trace records, descriptor first


def kind_of(record: dict) -> str:
    if record.get("kind"):
        return record["kind"]
    path = record["url"].split("?", 1)[0]
    if path.endswith(".dzi") or path.endswith("info.json"):
        return "dzi"
    return "tile" if re.search(r"_files/\d+/\d+_\d+\.\w+$", path) or "/full/" in path \
        or "/tiles/" in path or re.search(r"/\d+,\d+,\d+,\d+/", path) else "other"


def slide_of(record: dict) -> str:
    if record.get("slide"):
        return record["slide"]
    match = re.match(r"/?dzi/(.+?)(?:\.dzi|_files/)", record["url"])
    return urllib.parse.unquote(match.group(1)) if match else ""


def sessions_of(records: list[dict], gap: float = STEP_GAP) -> dict[str, list[Step]]:
    """Records grouped into sessions and steps, in trace order."""
    by_session: dict[str, list[dict]] = collections.OrderedDict()
    for record in records:
        by_session.setdefault(str(record.get("session", "s1")), []).append(record)
    sessions = {}
    for name, items in by_session.items():
        steps: list[Step] = []
        t0 = float(items[0].get("t", 0) or 0)
        previous_t = None
        for record in items:
            t = float(record.get("t", 0) or 0) - t0
            if "step" in record:
                new = not steps or steps[-1].index != record["step"]
                index = record["step"]
            else:
                new = not steps or previous_t is None or t - previous_t > gap \
                    or (kind_of(record) == "dzi" and steps[-1].requests)
                index = len(steps)
            previous_t = t
            if new:
                steps.append(Step(name, index, t, record.get("action", ""), slide_of(record), []))
            steps[-1].requests.append(record)
        for step in steps:
            step.requests.sort(key=lambda r: kind_of(r) != "dzi")  # stable: descriptor first
            if not step.action:
                step.action = "open" if any(kind_of(r) == "dzi" for r in step.requests) \
                    else "view"
        sessions[name] = steps
    return sessions


def recorded_trace(path: str) -> list[dict]:
    """A trace file's records to replay; ValueError, one line, if it cannot be read or holds
    no requests."""
    try:
        records = read_trace(path)
    except OSError as exc:
        raise ValueError(str(exc)) from None
    if not records:
        raise ValueError("no requests")
    return records


def check_slides(records: list[dict], slide_ids, case: str) -> None:
    """ValueError, one line, if the records read a slide the case being replayed on does not
    have (a trace recorded on another layout)."""
    unknown = sorted({slide_of(r) for r in records} - set(slide_ids), key=str)
    if unknown:
        raise ValueError(f"the trace reads slides the {case} case does not have: "
                         f"{', '.join(map(str, unknown))}")


# Server-Timing phases of the CPU pool's jobs that decode pixels: a region or tile rendered,
# its tiles decoded and assembled, a stored edge tile transcoded.
PIXEL_PHASES = ("render", "decode", "assemble", "transcode")


def pixels_made(server_timing: str) -> bool:
    """Whether the server decoded pixels for a response, from its Server-Timing header."""
    return any(f"{phase};dur=" in server_timing for phase in PIXEL_PHASES)


class Connections:
    """One keep-alive HTTP connection per thread, as a browser keeps six per host."""

    def __init__(self, base_url: str, timeout: float):
        parts = urllib.parse.urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/") + "/"
        self.timeout = timeout
        self.local = threading.local()
        self.all: list = []
        self.lock = threading.Lock()

    def _new(self):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        with self.lock:
            self.all.append(conn)
        return conn

    def get(self, url: str, headers: dict | None = None) -> tuple[int, int, dict]:
        """(status, body bytes, headers) of one GET, retried once on a dropped connection."""
        path = self.prefix + url.lstrip("/")
        for attempt in (0, 1):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = self._new()
            try:
                conn.request("GET", path, headers={"Accept-Encoding": "identity",
                                                   **(headers or {})})
                response = conn.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return response.status, len(body), dict(response.getheaders())
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self.lock:
            for conn in self.all:
                conn.close()
            self.all.clear()


@dataclasses.dataclass
class SessionRun:
    session: str
    seconds: float
    requests: list   # {url, kind, slide, step, action, status, bytes, start, ms, error}
    steps: list      # {index, action, slide, start, ms, requests}
    ttft: list       # {slide, ms}: descriptor sent -> first tile complete, per slide opened
    truncated: bool = False

    @property
    def errors(self) -> int:
        return sum(1 for r in self.requests if r["error"] or r["status"] >= 400)

    def tile_latencies(self) -> list[float]:
        return [r["ms"] for r in self.requests if r["kind"] == "tile" and not r["error"]
                and r["status"] < 400]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def replay_session(base_url: str, steps: list[Step], *, concurrency: int = 6,
                   time_scale: float = 0.0, timeout: float = 60.0,
                   max_seconds: float = 600.0) -> SessionRun:
    """Replays one session's steps; stops (truncated) after `max_seconds`."""
    connections = Connections(base_url, timeout)
    began = time.perf_counter()
    results, step_rows, ttft = [], [], []
    truncated = False

    def fetch(record: dict, step: Step, due: float) -> dict:
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        start = time.perf_counter()
        status, size, error, headers = 0, 0, "", {}
        try:
            status, size, headers = connections.get(record["url"], record.get("headers"))
        except Exception as exc:  # a failed request is a figure, not a crash
            error = f"{type(exc).__name__}: {exc}"[:200]
        end = time.perf_counter()
        # Our server says in Server-Timing whether the store was waited on for this response.
        from_store = "store;dur=" in headers.get("Server-Timing", "")
        return {"url": record["url"], "kind": kind_of(record), "slide": step.slide,
                "step": step.index, "t": step.t, "action": step.action, "status": status,
                "bytes": size, "store": from_store, "timing": headers.get("Server-Timing", ""),
                "start": round((start - began) * 1000, 3), "end": round((end - began) * 1000, 3),
                "ms": round((end - start) * 1000, 3), "error": error}

    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="viewer") as pool:
            previous_t = steps[0].t if steps else 0.0
            for step in steps:
                if time.perf_counter() - began > max_seconds:
                    truncated = True
                    break
                pause = (step.t - previous_t) * time_scale
                previous_t = step.t
                if pause > 0:
                    time.sleep(min(pause, 30.0))
                step_start = time.perf_counter()
                rows = []
                descriptors = [r for r in step.requests if kind_of(r) == "dzi"]
                others = [r for r in step.requests if kind_of(r) != "dzi"]
                first = min(float(r.get("t", 0)) for r in step.requests)
                due = {id(r): step_start + (float(r.get("t", 0)) - first) * time_scale
                       for r in step.requests}
                # The viewer needs a descriptor before any tile, and asks for it on one of
                # its six connections: a browser has no other.
                for record in descriptors:
                    rows.append(pool.submit(fetch, record, step, due[id(record)]).result())
                rows += list(pool.map(lambda r: fetch(r, step, due[id(r)]), others))
                step_end = time.perf_counter()
                results += rows
                step_rows.append({"index": step.index, "action": step.action,
                                  "slide": step.slide,
                                  "start": round((step_start - began) * 1000, 3),
                                  "ms": round((step_end - step_start) * 1000, 3),
                                  "requests": len(rows)})
                if descriptors:
                    tiles = [r for r in rows if r["kind"] == "tile" and r["status"] == 200]
                    if tiles:
                        first = min(r["end"] for r in tiles)
                        ttft.append({"slide": step.slide, "ms": round(
                            first - (step_start - began) * 1000, 3)})
    finally:
        connections.close()
    return SessionRun(steps[0].session if steps else "", round(time.perf_counter() - began, 3),
                      results, step_rows, ttft, truncated)


# -- /metrics ----------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|[+-]Inf)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape_metrics(base_url: str, timeout: float = 10.0) -> dict | None:
    """{(name, ((label, value)...)): value} from /metrics, or None where there is none."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/metrics", timeout=timeout) as r:
            if r.status != 200:
                return None
            text = r.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = tuple(sorted(_LABEL.findall(match.group(2) or "")))
            try:
                samples[(match.group(1), labels)] = float(match.group(3))
            except ValueError:
                continue
    return samples or None


def metric_total(samples: dict | None, name: str, /, **labels: str) -> float:
    """Sum of the samples of `name` (from `scrape_metrics`) whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (n, found), value in (samples or {}).items()
               if n == name and wanted <= set(found))


def cache_ratios(before: dict | None, after: dict | None) -> dict | None:
    """Hit ratio per cache (and per tier) between two scrapes, from counters whose names hold
    `cache_hits` / `cache_misses` (labels `cache` or `tier`/`name`); None if none are there."""
    if after is None:
        return None
    before = before or {}
    found: dict[str, dict] = {}
    for (name, labels), value in after.items():
        if "cache_hits" not in name and "cache_misses" not in name:
            continue
        if name.endswith("_created"):
            continue
        delta = value - before.get((name, labels), 0.0)
        label = dict(labels)
        cache = label.get("cache") or label.get("name") or "cache"
        entry = found.setdefault(cache, {"hits": 0.0, "misses": 0.0, "tiers": {}})
        if "cache_hits" in name:
            entry["hits"] += delta
            tier = label.get("tier", "l1")
            entry["tiers"][tier] = entry["tiers"].get(tier, 0.0) + delta
        else:
            entry["misses"] += delta
    if not found:
        return None
    for entry in found.values():
        total = entry["hits"] + entry["misses"]
        entry["ratio"] = entry["hits"] / total if total else None
    return found


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarise(run: SessionRun) -> dict:
    tiles = run.tile_latencies()
    views = [s["ms"] for s in run.steps]
    return {"session": run.session, "requests": len(run.requests), "tiles": len(tiles),
            "errors": run.errors, "seconds": run.seconds, "truncated": run.truncated,
            "p50": percentile(tiles, 50), "p95": percentile(tiles, 95),
            "p99": percentile(tiles, 99), "view_p50": percentile(views, 50),
            "view_p95": percentile(views, 95),
            "ttft": [t["ms"] for t in run.ttft],
            "bytes": sum(r["bytes"] for r in run.requests)}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace", help="JSONL trace (generated or recorded)")
    parser.add_argument("--server", required=True, help="base URL of the server")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.0,
                        help="1 keeps the session's pauses, 0 (default) drops them")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    rows = []
    for name, steps in sessions_of(read_trace(args.trace)).items():
        run = replay_session(args.server, steps, concurrency=args.concurrency,
                             time_scale=args.time_scale, max_seconds=args.max_seconds)
        summary = summarise(run)
        rows.append({"summary": summary, "run": run.to_json()})
        print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
