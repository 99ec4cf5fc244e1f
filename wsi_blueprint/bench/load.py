"""Throughput: requests per second under concurrent load, bounded in count and in time.

A list of URL paths is sent over `connections` keep-alive connections, each path once in
order (`unique=True`: every request is a different tile, none repeats, the run ends when the
list is used up or the time is) or round and round (`unique=False`: the same tiles again and
again, as a cache serves them). wrk (Debian package `wrk`) generates the load where it is
installed: one thread of C, leaving the cores to the server; otherwise a Python generator of
`connections` threads does, which costs the server CPU on a small machine (the result says
which was used). A unique run that used up its list before its time says `exhausted`: with wrk
its rate is then a lower bound (wrk counts the whole time). Loopback only: the URL must be on
127.0.0.0/8 or localhost unless `allow_remote` is given.
"""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

from .replay import percentile

_WRK_SCRIPT = r"""
-- globals, so that done() can read them from each thread with thread:get()
paths, unique, count, exhausted = {}, false, 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  unique = args[2] == "unique"
end
function request()
  count = count + 1
  if count > #paths then
    if unique then  -- every URL sent once: stop rather than repeat one
      exhausted = 1
      wrk.thread:stop()
      return wrk.format("GET", paths[#paths])
    end
    count = 1
  end
  return wrk.format("GET", paths[count])
end
function done(summary, latency, requests)
  local e, ex = summary.errors, 0
  for _, thread in ipairs(threads) do ex = ex + (thread:get("exhausted") or 0) end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "exhausted": %d}\n', summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, ex))
end
"""


def _check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"load is only sent to loopback addresses, not to {host!r}")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base_url: str, paths: list[str], *, seconds: float, connections: int,
            unique: bool) -> dict:
    prefix = urllib.parse.urlsplit(base_url).path.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="wsi-wrk-") as folder:
        script = os.path.join(folder, "paths.lua")
        listing = os.path.join(folder, "paths.txt")
        with open(script, "w") as f:
            f.write(_WRK_SCRIPT)
        with open(listing, "w") as f:
            f.write("\n".join(prefix + "/" + p.lstrip("/") for p in paths) + "\n")
        duration = max(1, round(seconds))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
                   "-s", script, base_url, "--", listing, "unique" if unique else "repeat"]
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=duration + 60, check=False)
    line = next((text for text in done.stdout.splitlines() if text.startswith("{")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}"
                           f"{done.stdout[-500:]}")
    raw = json.loads(line)
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {"tool": "wrk", "requests": raw["requests"], "seconds": round(seconds_run, 3),
            "rps": round(raw["requests"] / seconds_run, 1) if seconds_run else 0.0,
            "errors": errors, "bytes": raw["bytes"],
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "connections": connections, "unique": unique,
            "urls": len(paths), "exhausted": bool(raw["exhausted"])}


def run_python(base_url: str, paths: list[str], *, seconds: float, connections: int,
               unique: bool) -> dict:
    parts = urllib.parse.urlsplit(base_url)
    prefix = parts.path.rstrip("/")
    lock = threading.Lock()
    position = [0]
    latencies: list[float] = []
    errors = [0]
    sent_bytes = [0]
    deadline = time.perf_counter() + seconds

    def next_path() -> str | None:
        with lock:
            i = position[0]
            if unique and i >= len(paths):
                return None
            position[0] = i + 1
            return paths[i % len(paths)]

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        mine, bad, size = [], 0, 0
        try:
            while time.perf_counter() < deadline:
                path = next_path()
                if path is None:
                    break
                start = time.perf_counter()
                try:
                    conn.request("GET", prefix + "/" + path.lstrip("/"))
                    response = conn.getresponse()
                    body = response.read()
                    size += len(body)
                    if response.status >= 400:
                        bad += 1
                except (http.client.HTTPException, OSError):
                    bad += 1
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                                      timeout=30)
                mine.append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad
                sent_bytes[0] += size

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - began
    return {"tool": "python", "requests": len(latencies), "seconds": round(elapsed, 3),
            "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0, "errors": errors[0],
            "bytes": sent_bytes[0], "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies, default=None),
            "connections": connections, "unique": unique, "urls": len(paths),
            "exhausted": unique and position[0] >= len(paths)}


def run_load(base_url: str, paths: list[str], *, seconds: float = 5.0, connections: int = 16,
             unique: bool = False, tool: str = "auto", allow_remote: bool = False) -> dict:
    if not allow_remote:
        _check_loopback(base_url)
    if not paths:
        raise ValueError("no URLs to load")
    if tool == "wrk" or (tool == "auto" and wrk_available()):
        return run_wrk(base_url, paths, seconds=seconds, connections=connections, unique=unique)
    return run_python(base_url, paths, seconds=seconds, connections=connections, unique=unique)
