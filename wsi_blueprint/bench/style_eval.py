"""Prefetch on against off for every viewing style, against the targets it must hold in all.

A prefetcher tuned on its own sessions may help no other viewer. Each style of the trace
generator (`traces.STYLES`: the project's explore and screen sessions, and viewers it was not
built on: no session header, OpenSeadragon blending, one-level zoom steps, short turning pans,
Mirador over IIIF, most of these at once) is replayed as `prefetch_eval` does (the generated
case behind a 40 ms simulated S3, 2 workers, memcached; each session cold on a server and
memcached of its own, prefetch off and on in turn), on sessions of seed 1 and, reported apart, of
a hold-out seed that no change to the prefetcher was tried on. Per style and set, pooled over
its sessions:

- p95 of tile latency, on / off (target <= 0.6);
- tiles answered without a store wait, prefetch on (target >= 90 %);
- store requests, on / off (target <= 0.40);
- prefetched bytes never used (target <= 30 %): the bytes the predictors asked for. Beside it,
  not a target: what the read units brought around them (read ahead), and of all bytes fetched
  ahead of a viewer, predictors' and read units' together, the share never used;
- and where the tiles that waited on the store are, by move (`waits_by_move`): what only a
  move's first requests tell, where it goes, leaves its first round waiting.

    python -m wsi_blueprint.bench.style_eval [--styles mixed,pans] [--sessions 2]
                                             [--holdout 1] [--quick] [--viewport 1600x900]
                                             [--connections 6] [--cores 0 0,1] [--out DIR]
                                             [--trace FILE]

With `--cores 0 0,1` every style runs with the servers pinned to each set of CPUs in turn
(`taskset -c`; the store, memcached and the viewer are not pinned): what a second core buys.
With `--trace FILE` the sessions of a recorded trace (`viewer_eval --trace` records a
browser's) are replayed instead, as the style "trace", each request sent at its own time into
its move: a real viewer's request pattern against live servers, without a browser's own
variance.
"""

import argparse
import json
import os
import shutil
import tempfile

from . import traces as tr
from .live_server import cpu_list
from .prefetch_eval import CONNECTIONS, by_action, pool_reasons, profile_of, replay_cold
from .replay import check_slides, percentile, recorded_trace, sessions_of
from .s3sim import SimulatedS3
from .slidegen import LAYOUTS, case_of, ensure_slides
from .suite import _link_slides

TUNED_SEED, HOLDOUT_SEED = 1, 1009
TARGETS = {"p95_ratio": 0.6, "cached_share": 0.9, "store_ratio": 0.4, "waste_share": 0.3}
# Seconds between two steps of one zoom in the trace: a zoom's frames come an animation
# frame apart (`traces.FRAME`), a viewer's moves a reading pause apart.
SAME_ZOOM = 0.3
MOVES = ("open", "zoom in", "later frames", "after a jump", "pan", "jump", "zoom out")
MOVE_FIGURES = ("tiles", "waited", "first_round")


def sessions_for(infos: list, style: str, quick: bool, sessions: int, holdout: int,
                 viewport: tuple[int, int] = tr.VIEWPORT, trace: list[dict] | None = None
                 ) -> dict:
    """{(set, session name): steps}: `sessions` of the tuning seed, `holdout` of the other,
    read on a screen of `viewport` pixels; or every session of `trace`, as tuned."""
    if trace is not None:
        return {("tuned", name): steps for name, steps in sessions_of(trace).items()}
    profile = profile_of(style, quick)
    found = {}
    for which, seed, count in (("tuned", TUNED_SEED, sessions), ("holdout", HOLDOUT_SEED,
                                                                   holdout)):
        if count:
            for name, steps in sessions_of(tr.generate(infos, count, seed, profile,
                                                       viewport)).items():
                found[which, name] = steps
    return found


def served_tiles(row: dict) -> list[dict]:
    """The tiles a replayed session's row was served, in the order sent."""
    return [r for r in row["requests"] if r["kind"] == "tile" and r["status"] == 200]


def moves_of(requests: list[dict]) -> list[tuple[str, list[dict]]]:
    """One session's tile requests as the moves they made, in order: (kind, requests in the
    order sent). A step of the session is a move, except that the steps of one zoom in (less
    than `SAME_ZOOM` apart in the trace) are its frames: the first ("zoom in", or "after a
    jump" when a jump came just before it), then "later frames". A scan at low power is a
    pan."""
    steps: dict = {}
    for request in requests:
        steps.setdefault(request.get("step"), []).append(request)
    moves, before = [], None
    for _, step in sorted(steps.items(), key=lambda item: item[0] or 0):  # trace order
        step.sort(key=lambda r: r.get("start", 0.0))
        # The trace's time: a replay starts a step once the one before has been answered.
        action, start = step[0]["action"], step[0].get("t", 0.0)
        close = before is not None and start - before[1] < SAME_ZOOM
        if action == "zoom-in":
            kind = "later frames" if close and before[0] == "zoom-in" else \
                "after a jump" if close and before[0] == "jump" else "zoom in"
        else:
            kind = {"scan": "pan", "zoom-out": "zoom out"}.get(action, action)
        moves.append((kind, step))
        before = (action, start)
    return moves


def waits_by_move(sessions: list[list[dict]], round_size: int, key: str = "store"
                  ) -> dict[str, dict[str, int]]:
    """Where tiles waited on the store, pooled over sessions' tile requests: for each kind of
    move (`moves_of`), its tiles, those that waited (`key` true), and those of them in a move's
    first round (its first `round_size` requests, all sent before any answer comes back).
    Prefetch can spare a round only what the viewer's earlier requests foretold."""
    found = {kind: dict.fromkeys(MOVE_FIGURES, 0) for kind in MOVES}
    for requests in sessions:
        for kind, step in moves_of(requests):
            figures = found.setdefault(kind, dict.fromkeys(MOVE_FIGURES, 0))
            figures["tiles"] += len(step)
            for index, request in enumerate(step):
                if request[key]:
                    figures["waited"] += 1
                    figures["first_round"] += index < round_size
    return found


def summary(rows: dict, round_size: int = CONNECTIONS) -> dict:
    """The target figures of one style's sessions: rows is {"off": [...], "on": [...]};
    `round_size`, the viewer's requests in flight at most."""
    sessions = {mode: [served_tiles(row) for row in rows[mode]] for mode in ("off", "on")}
    served = {mode: [r for tiles in sessions[mode] for r in tiles] for mode in ("off", "on")}

    def total(mode: str, key: str) -> float:
        return sum(row[key] for row in rows[mode])

    on_tiles = served["on"]
    p95_off, p95_on = (percentile([r["ms"] for r in served[mode]], 95) for mode in ("off", "on"))
    fetched = total("on", "prefetch_bytes")
    figures = {
        "sessions": len(rows["on"]), "tiles": len(on_tiles),
        "errors": total("off", "errors") + total("on", "errors"),
        "p95_off": p95_off, "p95_on": p95_on,
        "p95_ratio": p95_on / p95_off if p95_off else None,
        "cached_share_off": (sum(not r["store"] for r in served["off"])
                             / max(1, len(served["off"]))),
        "cached_share": sum(not r["store"] for r in on_tiles) / max(1, len(on_tiles)),
        "store_off": total("off", "store_requests"), "store_on": total("on", "store_requests"),
        "prefetch_mb": fetched / 1e6,
        "waste_share": 1 - total("on", "prefetch_used_bytes") / fetched if fetched else 0.0,
        "read_ahead_mb": total("on", "read_ahead_bytes") / 1e6,
        "store_mb_off": total("off", "store_bytes") / 1e6,
        "store_mb_on": total("on", "store_bytes") / 1e6,
    }
    ahead = fetched + total("on", "read_ahead_bytes")
    figures["all_waste_share"] = 1 - (total("on", "prefetch_used_bytes") + total(
        "on", "read_ahead_used_bytes")) / ahead if ahead else 0.0
    figures["store_ratio"] = (figures["store_on"] / figures["store_off"]
                              if figures["store_off"] else None)
    figures["by_reason"] = pool_reasons(rows["on"])
    figures["by_action"] = {mode: by_action(served[mode]) for mode in ("off", "on")}
    figures["waits_by_move"] = {mode: waits_by_move(sessions[mode], round_size)
                                for mode in ("off", "on")}
    figures["met"] = met(figures)
    return figures


def met(figures: dict) -> dict[str, bool]:
    """Which targets the figures hold."""
    def within(key: str, most: bool) -> bool:
        value = figures[key]
        return value is not None and (value <= TARGETS[key] if most else value >= TARGETS[key])

    return {"p95_ratio": within("p95_ratio", True), "cached_share": within("cached_share", False),
            "store_ratio": within("store_ratio", True), "waste_share": within("waste_share", True)}


def run(styles: list[str], sessions: int, holdout: int, quick: bool, time_scale: float,
        max_seconds: float, out: str, server_env: dict | None = None, case=None,
        viewport: tuple[int, int] = tr.VIEWPORT, connections: int = CONNECTIONS,
        cpus: str | None = None, trace: list[dict] | None = None) -> dict:
    """Every style's sessions, prefetch off and on for each session in turn, read on a screen
    of `viewport` pixels by a viewer with at most `connections` requests in flight, the servers
    pinned to `cpus` (a taskset list; None: not pinned); or, with `trace`, its sessions as the
    style "trace". The report goes to `out`."""
    results = _replay(["trace"] if trace is not None else styles, sessions, holdout, quick,
                      time_scale, max_seconds, server_env, case, viewport, connections, cpus,
                      trace)
    write(results, out)
    return results


def run_scaling(styles: list[str], cores: list[str], sessions: int, holdout: int,
                quick: bool, time_scale: float, max_seconds: float, out: str,
                case=None) -> dict[str, dict]:
    """Each style's sessions replayed as `run` does once per set of CPUs, the sets alternating
    style by style (a shared machine's load drifts over a run): {cpus: results}, each written
    to `out/cpus-<cpus>/`, and the scaling table to `out/prefetch-styles-scaling.md`."""
    by_cores: dict[str, dict] = {}
    for style in styles:
        for cpus in cores:
            results = _replay([style], sessions, holdout, quick, time_scale, max_seconds,
                              None, case, tr.VIEWPORT, CONNECTIONS, cpus)
            if cpus not in by_cores:
                by_cores[cpus] = results
                continue
            merged = by_cores[cpus]
            merged["styles"].update(results["styles"])
            merged["worker_cpus"] = sorted({*merged["worker_cpus"], *results["worker_cpus"]})
        print(scaling_markdown(by_cores))
    for cpus, results in by_cores.items():
        write(results, os.path.join(out, f"cpus-{cpus}"))
    with open(os.path.join(out, "prefetch-styles-scaling.md"), "w") as f:
        f.write(scaling_markdown(by_cores))
    return by_cores


def _replay(styles: list[str], sessions: int, holdout: int, quick: bool, time_scale: float,
            max_seconds: float, server_env: dict | None, case, viewport: tuple[int, int],
            connections: int, cpus: str | None, trace: list[dict] | None = None) -> dict:
    slides, _ = ensure_slides(case or case_of("aperio", quick), None, None, print)
    infos = [tr.slide_info_from_file(s.path, s.slide_id) for s in slides]
    workdir = tempfile.mkdtemp(prefix="wsi-style-eval-")
    _link_slides(workdir, slides)
    store = SimulatedS3(workdir, latency_ms=40.0, bandwidth_mbps=100.0).start()
    results = {"time_scale": time_scale, "quick": quick, "viewport": list(viewport),
               "slides": {info.slide_id: [info.geometry.width, info.geometry.height]
                          for info in infos},
               "connections": connections, "cpus": cpus, "targets": TARGETS, "styles": {}}
    worker_cpus = set()
    try:
        for style in styles:
            rows: dict = {}
            for n, ((which, name), steps) in enumerate(sessions_for(
                    infos, style, quick, sessions, holdout, viewport, trace).items()):
                # Off first, then on first: the machine's load drifts over a run.
                for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                    row = replay_cold(mode, store, name, steps, time_scale, max_seconds,
                                      server_env or {}, floor=False, connections=connections,
                                      cpus=cpus)
                    row["set"] = which
                    worker_cpus.add(row["cpus"])
                    rows.setdefault(which, {"off": [], "on": []})[mode].append(row)
            results["styles"][style] = {which: summary(by_mode, connections)
                                        for which, by_mode in rows.items()}
            results["styles"][style]["latencies"] = {
                mode: sorted(r["ms"] for by_mode in rows.values() for row in by_mode[mode]
                             for r in served_tiles(row))
                for mode in ("off", "on")}
            print(to_markdown(results))
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    # what the servers were pinned to, read back from their workers
    results["worker_cpus"] = sorted(c for c in worker_cpus if c)
    return results


def write(results: dict, out: str) -> None:
    """The report of one run: prefetch-styles.json, .md and .png in `out`."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "prefetch-styles.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "prefetch-styles.md"), "w") as f:
        f.write(to_markdown(results))
    plot(results, out)


def scaling_markdown(by_cores: dict[str, dict]) -> str:
    """One row per style and set: each figure with the servers on each set of CPUs in turn."""
    sets = list(by_cores)
    first = by_cores[sets[0]]["styles"]

    def across(style: str, which: str, figure) -> str:
        values = []
        for cpus in sets:
            f = by_cores[cpus]["styles"].get(style, {}).get(which)
            values.append("-" if f is None else figure(f))
        return " -> ".join(values)

    lines = [f"Servers on CPUs {' -> '.join(sets)}:", "",
             "| style | p95 off ms | p95 on ms | on / off | without a store wait (on) "
             "| store requests on / off | never used |", "|---|---|---|---|---|---|---|"]
    for style, style_sets in first.items():
        for which in ("tuned", "holdout"):
            if which not in style_sets:
                continue
            cells = [across(style, which, figure) for figure in (
                lambda f: "{:.0f}".format(f["p95_off"] or 0),
                lambda f: "{:.0f}".format(f["p95_on"] or 0),
                lambda f: _ratio(f["p95_ratio"]),
                lambda f: "{:.0f} %".format(f["cached_share"] * 100),
                lambda f: _ratio(f["store_ratio"]),
                lambda f: "{:.0f} %".format(f["waste_share"] * 100))]
            name = f"{style} (hold-out)" if which == "holdout" else style
            lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mark(figures: dict, key: str, text: str) -> str:
    return text if figures["met"][key] else f"**{text}**"


def to_markdown(results: dict) -> str:
    """One row per style and set; figures missing a target in bold."""
    lines = ["| style | sessions | tiles | p95 off -> on ms | on / off | without a store wait "
             "(off -> on) | store requests off -> on | on / off | prefetched MB | never used "
             "| read ahead MB | all never used | store MB off -> on |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for style, sets in results["styles"].items():
        for which in ("tuned", "holdout"):
            f = sets.get(which)
            if f is None:
                continue
            ratio, store = _ratio(f["p95_ratio"]), _ratio(f["store_ratio"])
            cached, waste = f"{f['cached_share'] * 100:.0f} %", f"{f['waste_share'] * 100:.0f} %"
            lines.append(
                f"| {style}{' (hold-out)' if which == 'holdout' else ''} | {f['sessions']} | "
                f"{f['tiles']} | {f['p95_off'] or 0:.0f} -> {f['p95_on'] or 0:.0f} | "
                f"{_mark(f, 'p95_ratio', ratio)} | {f['cached_share_off'] * 100:.0f} -> "
                f"{_mark(f, 'cached_share', cached)} | "
                f"{f['store_off']} -> {f['store_on']} | {_mark(f, 'store_ratio', store)} | "
                f"{f['prefetch_mb']:.1f} | "
                f"{_mark(f, 'waste_share', waste)} | {f['read_ahead_mb']:.1f} | "
                f"{f['all_waste_share'] * 100:.0f} % | "
                f"{f['store_mb_off']:.0f} -> {f['store_mb_on']:.0f} |")
    return "\n".join(lines) + "\n\n" + moves_markdown(results)


def moves_markdown(results: dict) -> str:
    """Where the tiles that waited on the store are: for each style (its sets pooled) and
    kind of move, those that waited with prefetch off -> on, of the move's tiles, and how many
    of those on were in a move's first round."""
    lines = ["Tiles that waited on the store, by move: prefetch off -> on, of the tiles "
             "(on, in a move's first round):", "",
             "| style | " + " | ".join(MOVES) + " |", "|---|" + "---|" * len(MOVES)]
    for style, sets in results["styles"].items():
        moves = [sets[which]["waits_by_move"] for which in ("tuned", "holdout") if which in sets]

        def pooled(mode: str, kind: str, key: str) -> int:
            return sum(found[mode][kind][key] for found in moves)

        cells = ["-" if not pooled("on", kind, "tiles") else
                 f"{pooled('off', kind, 'waited')} -> {pooled('on', kind, 'waited')} of "
                 f"{pooled('on', kind, 'tiles')} ({pooled('on', kind, 'first_round')})"
                 for kind in MOVES]
        lines.append(f"| {style} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, folder: str) -> str | None:
    """A panel per style: the CDF of tile latency, prefetch off and on (prefetch-styles.png)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = list(results["styles"])
    columns = min(4, len(styles)) or 1
    rows = -(-len(styles) // columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.9 * rows), squeeze=False,
                             sharex=True, sharey=True)
    for ax in axes.flat[len(styles):]:
        ax.set_visible(False)
    for ax, style in zip(axes.flat, styles):
        for mode, colour in (("off", "tab:grey"), ("on", "tab:blue")):
            values = results["styles"][style]["latencies"][mode]
            if values:
                ax.plot(values, [(k + 1) / len(values) for k in range(len(values))],
                        color=colour, label=f"prefetch {mode}", linewidth=1.4)
        ax.axhline(0.95, color="black", linewidth=0.5, linestyle=":")
        ax.set_xscale("log")
        ax.set_title(style, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("tile latency (ms)")
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of tiles")
    fig.tight_layout()
    name = "prefetch-styles.png"
    fig.savefig(os.path.join(folder, name), dpi=100)
    plt.close(fig)
    return name


def _connections(text: str) -> int:
    """A count of requests in flight, from 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{value}: from 1 to 256")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", default=",".join(tr.STYLES),
                        help="comma-separated styles (default: all)")
    parser.add_argument("--sessions", type=int, default=2, help="sessions of the tuning seed")
    parser.add_argument("--holdout", type=int, default=1, help="sessions of the hold-out seed")
    parser.add_argument("--quick", action="store_true",
                        help="shorter sessions of each style (on the full case)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="1 keeps the sessions' reading pauses (default)")
    parser.add_argument("--max-session-seconds", type=float, default=240.0)
    parser.add_argument("--viewport", type=tr.screen_size, default=tr.VIEWPORT, metavar="WxH",
                        help="the viewer's screen in pixels (default: %(default)s)")
    parser.add_argument("--connections", type=_connections, default=CONNECTIONS,
                        metavar="N", help="requests in flight at most: 6 is a browser over "
                        "HTTP/1.1, more one over HTTP/2 (default: %(default)s)")
    parser.add_argument("--layout", choices=LAYOUTS, default="aperio",
                        help="the generated case as Aperio writes it (240 px tiles, a level "
                             "every 4x) or as a pyramid of 512 px tiles with a level every 2x "
                             "(default: %(default)s)")
    parser.add_argument("--small-slides", action="store_true",
                        help="the small case (8000 x 6000 and 6000 x 4800, a biopsy's size), "
                             "whose screens meet the slide's edges more often")
    parser.add_argument("--cores", nargs="+", type=cpu_list, metavar="CPUS",
                        help="taskset CPU lists to pin the servers to, e.g. 0 0,1: with more "
                             "than one, each style runs on each in turn and "
                             "prefetch-styles-scaling.md compares them (default: not pinned)")
    parser.add_argument("--trace", metavar="FILE",
                        help="replay the sessions of this trace (JSON lines, as "
                             "`viewer_eval --trace` records a browser's) instead of styles")
    parser.add_argument("--out", default="bench-report")
    args = parser.parse_args(argv)
    trace = None
    if args.trace:
        if args.cores and len(args.cores) > 1:
            parser.error("--trace replays on one set of CPUs")
        try:
            trace = recorded_trace(args.trace)
        except ValueError as exc:
            parser.error(f"--trace {args.trace}: {exc}")
    styles = [s for s in args.styles.split(",") if s]
    unknown = set(styles) - set(tr.STYLES)
    if unknown:
        parser.error(f"unknown styles: {', '.join(sorted(unknown))} "
                     f"(known: {', '.join(tr.STYLES)})")
    case = case_of(args.layout, args.small_slides)
    if args.cores and len(args.cores) > 1:
        if args.viewport != tr.VIEWPORT or args.connections != CONNECTIONS:
            parser.error("--cores with more than one set replays the default viewer only")
        print(scaling_markdown(run_scaling(
            styles, args.cores, args.sessions, args.holdout, args.quick, args.time_scale,
            args.max_session_seconds, args.out, case=case)))
        return 0
    if trace is not None:
        try:
            check_slides(trace, [spec.slide_id for spec in case], args.layout)
        except ValueError as exc:
            parser.error(str(exc))
    results = run(styles, args.sessions, args.holdout, args.quick, args.time_scale,
                  args.max_session_seconds, args.out, case=case, viewport=args.viewport,
                  connections=args.connections, cpus=(args.cores or [None])[0], trace=trace)
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
