"""Prefetch on against prefetch off, on the same viewing sessions, with their reading pauses.

Every session of the trace is replayed on the generated case behind the simulated S3 (40 ms
first byte) twice, once with WSI_PREFETCH=off and once on, each time on a fresh server and
memcached of its own: cold, with its pauses kept (a pathologist reads before moving on; that
is when the prefetcher works), then once more on the same server, warm: every tile cached.
With prefetch on, a second server on the same memcached (so every block the session read is
cached) but with another JPEG quality (so no tile is) replays it cold once more: the render
floor, the p95 that fetching bytes ahead could reach at best, as every tile is still made on
demand or rendered ahead. Reported per mode: tile latency p50/p95, the share of tiles
answered without waiting on the store and the share answered ready (neither store wait nor
rendering: from Server-Timing), store requests and bytes per session, and for prefetch on the
bytes it fetched, the share of them never used, the bytes its read units brought ahead (and
the share never used) and the tiles it rendered ahead and that were then asked for. The same
figures per viewer action (open, zoom, pan, jump...) show where prediction can work: no
predictor foresees where a navigator jump lands. Prefetched bytes per predictor (overview,
zoom_frame, pan_e...) show which of them wastes.

    python -m wsi_blueprint.bench.prefetch_eval [--style explore|screen|...] [--sessions 2]
                                                [--quick] [--out DIR]
"""

import argparse
import json
import os
import shutil
import tempfile

from ..settings import Settings
from . import traces as tr
from .live_server import LiveServer
from .replay import (SessionRun, metric_total, percentile, pixels_made, replay_session,
                     scrape_metrics, sessions_of)
from .s3sim import SimulatedS3
from .services import Memcached
from .slidegen import FULL_CASE, QUICK_CASE, ensure_slides
from .suite import _link_slides

CONNECTIONS = 6  # a browser's to one host over HTTP/1.1


def _ready(request: dict) -> bool:
    """Answered from what was cached: no store wait and no pixel work in Server-Timing."""
    return not request["store"] and not pixels_made(request["timing"])


def _served_tiles(run: SessionRun) -> list[dict]:
    return [r for r in run.requests if r["kind"] == "tile" and r["status"] == 200]


def _tile_figures(tiles: list[dict]) -> dict:
    return {"tiles": len(tiles),
            "p50": percentile([r["ms"] for r in tiles], 50),
            "p95": percentile([r["ms"] for r in tiles], 95),
            "cached_share": (sum(not r["store"] for r in tiles) / len(tiles)
                             if tiles else None),
            "ready_share": sum(map(_ready, tiles)) / len(tiles) if tiles else None}


def by_action(tiles: list[dict]) -> dict:
    actions: dict[str, list] = {}
    for request in tiles:
        actions.setdefault(request["action"], []).append(request)
    return {action: _tile_figures(group) for action, group in sorted(actions.items())}


# Each predictor's figures in a session's row, and the counter (labelled `reason`) each is read
# from: bytes prefetched and used, store requests, and its jobs dropped (busy, leased, over
# budget...) or cancelled (the viewer moved on).
REASON_METRICS = {"bytes": "wsi_prefetch_bytes_total", "used": "wsi_prefetch_used_bytes_total",
                  "requests": "wsi_prefetch_store_requests_total",
                  "dropped": "wsi_prefetch_dropped_total",
                  "cancelled": "wsi_prefetch_cancelled_total"}


def pool_reasons(rows) -> dict[str, dict[str, float]]:
    """Each predictor's figures (`REASON_METRICS`), summed over sessions' rows."""
    reasons: dict[str, dict[str, float]] = {}
    for row in rows:
        for reason, figures in row["by_reason"].items():
            total = reasons.setdefault(reason, dict.fromkeys(REASON_METRICS, 0.0))
            for key in total:
                total[key] += figures.get(key, 0.0)
    return reasons


def _reasons(samples: dict | None) -> set[str]:
    """The predictors (reason label) with any figure of `REASON_METRICS`, from a metrics
    scrape."""
    counted = set(REASON_METRICS.values())
    return {value for (name, labels), _ in (samples or {}).items()
            if name in counted for label, value in labels if label == "reason"}


def reasons_grown(before: dict | None, after: dict | None) -> dict[str, dict[str, float]]:
    """Each predictor's figures (`REASON_METRICS`) between two scrapes of /metrics, the
    predictors that did nothing left out."""
    grown = {reason: {figure: metric_total(after, metric, reason=reason)
                      - metric_total(before, metric, reason=reason)
                      for figure, metric in REASON_METRICS.items()}
             for reason in _reasons(after)}
    return {reason: figures for reason, figures in grown.items() if any(figures.values())}


def reasons_markdown(reasons: dict[str, dict[str, float]]) -> list[str]:
    """The table of pooled predictors' figures, the most bytes first."""
    lines = ["| predictor | MB | never used | store requests | dropped | cancelled |",
             "|---|---|---|---|---|---|"]
    for reason, total in sorted(reasons.items(), key=lambda item: -item[1]["bytes"]):
        unused = _pct(1 - total["used"] / total["bytes"]) if total["bytes"] else "-"
        lines.append(f"| {reason} | {total['bytes'] / 1e6:.1f} | {unused} | "
                     f"{total['requests']:.0f} | {total['dropped']:.0f} | "
                     f"{total['cancelled']:.0f} |")
    return lines


def _mode(mode: str, store: SimulatedS3, sessions: dict, time_scale: float,
          max_seconds: float, server_env: dict) -> dict:
    return {"mode": mode, "sessions": [
        replay_cold(mode, store, name, steps, time_scale, max_seconds, server_env)
        for name, steps in sessions.items()]}


def replay_cold(mode: str, store: SimulatedS3, name: str, steps: list, time_scale: float,
                max_seconds: float, server_env: dict, floor: bool = True,
                connections: int = CONNECTIONS, cpus: str | None = None) -> dict:
    """One session on a server and memcached of its own (sessions of a case read the same
    slides: on a shared server the second would start warm, and use what the first
    prefetched). `floor`: also the warm replay and, prefetch on, the render floor.
    `connections`: the viewer's requests in flight at most; `cpus`: a taskset list the
    servers are pinned to (the store, memcached and the viewer are not)."""
    memcached = Memcached(memory_mb=1024).start()
    env = {**store.server_env(), "WSI_MEMCACHED": memcached.address, "WSI_PREFETCH": mode,
           **server_env}
    try:
        with LiveServer(None, workers=2, env=env, cpus=cpus) as server:
            store.reset()
            before = scrape_metrics(server.url)
            run = replay_session(server.url, steps, concurrency=connections,
                                 time_scale=time_scale, max_seconds=max_seconds)
            after = scrape_metrics(server.url)
            stats = store.stats()
            tiles = _served_tiles(run)

            def grown(name: str) -> float:
                return metric_total(after, name) - metric_total(before, name)

            fetched, used = grown("wsi_prefetch_bytes_total"), grown(
                "wsi_prefetch_used_bytes_total")
            ahead, ahead_used = grown("wsi_read_ahead_bytes_total"), grown(
                "wsi_read_ahead_used_bytes_total")
            warm = replay_session(server.url, steps, concurrency=connections,
                                  time_scale=time_scale, max_seconds=max_seconds
                                  ) if floor else SessionRun(name, 0.0, [], [], [])
            warm_tiles = [r["ms"] for r in _served_tiles(warm)]
            row = {
                "session": name, "cpus": server.worker_cpus(),
                "errors": run.errors + warm.errors, **_tile_figures(tiles),
                "store_requests": stats["requests"], "store_bytes": stats["bytes"],
                "prefetch_bytes": fetched, "prefetch_used_bytes": used,
                "waste_share": (1 - used / fetched) if fetched else None,
                "read_ahead_bytes": ahead, "read_ahead_used_bytes": ahead_used,
                "read_ahead_waste_share": (1 - ahead_used / ahead) if ahead else None,
                "rendered_ahead": grown("wsi_prefetch_tiles_rendered_total"),
                "rendered_used": grown("wsi_prefetch_tiles_used_total"),
                "warm_p50": percentile(warm_tiles, 50),
                "warm_p95": percentile(warm_tiles, 95),
                "by_action": by_action(tiles),
                "by_reason": reasons_grown(before, after),
                "seconds": run.seconds, "truncated": run.truncated,
                "requests": run.requests}
        if mode == "on" and floor:
            figures = _render_floor(steps, time_scale, max_seconds, env, connections, cpus)
            row["errors"] += figures.pop("errors")
            row.update(figures)
    finally:
        memcached.stop()
    return row


def _render_floor(steps: list, time_scale: float, max_seconds: float, env: dict,
                  connections: int, cpus: str | None) -> dict:
    """The session replayed cold on a fresh server whose tiles are all new (another JPEG
    quality names other tiles) but whose blocks are all in the session's memcached: the render
    floor's p50/p95 and its share of tiles without a store wait (1 unless a block was
    evicted)."""
    quality = Settings.from_mapping(env).jpeg_quality
    with LiveServer(None, workers=2, env={**env, "WSI_JPEG_QUALITY": str(
            quality + 1 if quality < 100 else quality - 1)}, cpus=cpus) as server:
        run = replay_session(server.url, steps, concurrency=connections,
                             time_scale=time_scale, max_seconds=max_seconds)
    figures = _tile_figures(_served_tiles(run))
    return {"errors": run.errors, "floor_p50": figures["p50"], "floor_p95": figures["p95"],
            "floor_cached_share": figures["cached_share"]}


PROFILES = {("explore", False): tr.FULL, ("explore", True): tr.QUICK,
            ("screen", False): tr.SCREEN, ("screen", True): tr.QUICK_SCREEN}


def profile_of(style: str, quick: bool) -> tr.Profile:
    """The sessions of a viewing style (`traces.STYLES`), shorter with `quick`."""
    found = PROFILES.get((style, quick))
    if found is None:
        found = tr.quick(tr.STYLES[style]) if quick else tr.STYLES[style]
    return found


def run(sessions_wanted: int, quick: bool, time_scale: float, max_seconds: float,
        out: str, style: str = "explore", server_env: dict | None = None) -> dict:
    """Both modes on the same sessions; `server_env` adds WSI_* settings to both servers."""
    slides, _ = ensure_slides(QUICK_CASE if quick else FULL_CASE, None, None, print)
    infos = [tr.slide_info_from_file(s.path, s.slide_id) for s in slides]
    records = tr.generate(infos, sessions_wanted, 1, profile_of(style, quick))
    sessions = sessions_of(records)
    workdir = tempfile.mkdtemp(prefix="wsi-prefetch-eval-")
    _link_slides(workdir, slides)
    store = SimulatedS3(workdir, latency_ms=40.0, bandwidth_mbps=100.0).start()
    try:
        results = {"style": style, "time_scale": time_scale, "modes": [
            _mode(mode, store, sessions, time_scale, max_seconds, server_env or {})
            for mode in ("off", "on")]}
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"prefetch-{style}.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, f"prefetch-{style}.md"), "w") as f:
        f.write(to_markdown(results))
    return results


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"


def _floor(row: dict) -> str:
    if row.get("floor_p95") is None:
        return "-"
    return f"{row['floor_p50']:.1f} / {row['floor_p95']:.1f}"


def to_markdown(results: dict) -> str:
    lines = ["| prefetch | session | tiles | p50 ms | p95 ms | warm p50 / p95 ms | "
             "render floor p50 / p95 ms | "
             "without a store wait | ready | store requests | store MB | prefetched MB | "
             "never used | read ahead MB | never used | rendered ahead / asked for |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for mode in results["modes"]:
        for row in mode["sessions"]:
            lines.append(
                f"| {mode['mode']} | {row['session']} | {row['tiles']} | {row['p50']:.1f} | "
                f"{row['p95']:.1f} | {row['warm_p50']:.1f} / {row['warm_p95']:.1f} | "
                f"{_floor(row)} | {_pct(row['cached_share'])} | {_pct(row['ready_share'])} | "
                f"{row['store_requests']} | {row['store_bytes'] / 1e6:.1f} | "
                f"{row['prefetch_bytes'] / 1e6:.1f} | {_pct(row['waste_share'])} | "
                f"{row['read_ahead_bytes'] / 1e6:.1f} | "
                f"{_pct(row['read_ahead_waste_share'])} | "
                f"{row['rendered_ahead']:.0f} / {row['rendered_used']:.0f} |")
    lines += ["", "Per viewer action (all sessions): tiles, p95 ms and share ready, prefetch off "
              "-> on", "", "| action | tiles | p95 ms | ready |", "|---|---|---|---|"]
    merged: dict[str, dict[str, list]] = {}
    for mode in results["modes"]:
        for row in mode["sessions"]:
            for request in row["requests"]:
                if request["kind"] == "tile" and request["status"] == 200:
                    merged.setdefault(request["action"], {}).setdefault(
                        mode["mode"], []).append(request)
    for action, modes in sorted(merged.items()):
        off, on = (_tile_figures(modes.get(m, [])) for m in ("off", "on"))
        lines.append(f"| {action} | {on['tiles']} | {off['p95'] or 0:.0f} -> {on['p95'] or 0:.0f}"
                     f" | {_pct(off['ready_share'])} -> {_pct(on['ready_share'])} |")
    lines += ["", "Prefetched bytes by predictor (all sessions): MB fetched, the share never "
              "used, the store requests it made, and its jobs dropped (busy, leased, over "
              "budget...) or cancelled (the viewer moved on)", ""]
    lines += reasons_markdown(pool_reasons(row for mode in results["modes"]
                                           for row in mode["sessions"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--style", choices=tuple(tr.STYLES), default="explore",
                        help="sessions that explore regions reached by navigator jumps "
                             "(default), screening reads that sweep the tissue in rows, or "
                             "another viewing style (see style_eval)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="1 keeps the sessions' reading pauses (default)")
    parser.add_argument("--max-session-seconds", type=float, default=240.0)
    parser.add_argument("--out", default="bench-report")
    args = parser.parse_args(argv)
    results = run(args.sessions, args.quick, args.time_scale, args.max_session_seconds,
                  args.out, args.style)
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
