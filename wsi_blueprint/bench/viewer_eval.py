"""Prefetch on and off as a pathologist sees it: the built-in viewer page, in a real browser,
reading a slide over a 40 ms store.

The replays (`prefetch_eval`, `style_eval`) time each tile request. What a person sees is
another figure: how long after a move the screen is fully drawn, and above all whether it is
still being drawn when the move's animation has ended (OpenSeadragon springs a zoom or a
navigator jump over 1.2 s, and asks for the destination's tiles as it begins). This drives the
viewer page in Chromium (Playwright, Debian's /usr/bin/chromium) on a screen of 1600 x 900
(`--screen`), over the generated case's first slide behind the simulated S3 (40 ms first byte,
100 MB/s), on the standalone server (2 gevent workers, memcached). A session opens the
slide, then makes `moves` moves, each followed by a pause once every tile in view is drawn:
clicks zooming in two times about a tissue point on the screen (half the moves), shift-clicks
zooming out, drags of 30-50 % of the screen, and jumps to another tissue point (the pan a
navigator click makes).
The moves come from the seed, so prefetch on and off make the same ones; each session runs on
a fresh server and memcached, the order turned at each pair. With prefetch on, the same session
is then made again on the same server with every tile it asks for cached (`cached`): what the
browser itself takes. `--viewer mirador` makes the same moves in stock Mirador (`mirador`),
which opens the slide's IIIF manifest and reads Image API 3 tiles where the built-in page
reads DZI; Mirador turns click-to-zoom off, so its zooms are four notches of the wheel (a
factor of 2.07), and `--osd` adds OpenSeadragon settings to Mirador's. OpenSeadragon,
Mirador's too, draws on its canvas drawer here (`_canvas_drawer`).

With `--trace FILE`, the tile requests of the sessions with prefetch off (sent at the
viewer's own pace, with the move each belongs to) are written there as trace records, which
`coverage --trace` replays: the browser's request pattern in the replay without a clock.

Reported per mode, pooled over its sessions:

- tiles (DZI or IIIF requests), the share that waited on the store (Server-Timing `store`),
  and their time in the browser, p50 / p95 (request to last byte, the browser's queueing included);
- per move, the time until every tile in view is drawn, p50 / p95, and the share of moves
  still being drawn once their animation ended (what a pathologist sees as blur), with the
  p95 of that remainder; the same per kind of move in the JSON;
- store requests and bytes, prefetched bytes and the share never used.

    python -m wsi_blueprint.bench.viewer_eval [--moves 40] [--pairs 1] [--seed 1]
                                              [--layout aperio|pyramid] [--screen WxH]
                                              [--viewer builtin|mirador] [--osd JSON]
                                              [--out DIR] [--trace FILE]
"""

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import tempfile
import time
import urllib.parse

from . import mirador
from . import traces as tr
from .live_server import LiveServer
from .prefetch_eval import pool_reasons, reasons_grown, reasons_markdown
from .replay import metric_total, percentile, scrape_metrics
from .s3sim import SimulatedS3
from .services import Memcached
from .slidegen import LAYOUTS, case_of, ensure_slides
from .suite import _link_slides

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PAUSE = (0.5, 1.5)  # seconds a pathologist looks once the screen is drawn
VIEWERS = ("builtin", "mirador")


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The page a session reads in: the built-in one, or stock Mirador with `osd` added to the
    OpenSeadragon settings it passes on (`osdConfig`)."""

    name: str = "builtin"
    osd: dict = dataclasses.field(default_factory=dict)
WAIT_MS = 60_000

# Page-side marks: when each animation ended and when the slide became fully drawn.
MARKS = """() => {
    const v = window.wsiViewer;
    window.__marks = [];
    v.addHandler('animation-finish', () => window.__marks.push(['finish', performance.now()]));
    v.world.getItemAt(0).addHandler('fully-loaded-change', e =>
        window.__marks.push([e.fullyLoaded ? 'loaded' : 'loading', performance.now()]));
}"""


def _canvas_drawer(route) -> None:
    """OpenSeadragon as the page loads it, drawing on a 2D canvas: without a GPU, Chromium
    draws its default WebGL drawer in software at about 5 frames a second, and OpenSeadragon,
    which asks for tiles from its frames, then loads a few a second. A viewer's machine has a
    GPU; the canvas drawer keeps the 60 frames a second it would have."""
    response = route.fetch()
    route.fulfill(response=response, body=response.text() +
                  "\nOpenSeadragon.DEFAULT_SETTINGS.drawer = 'canvas';\n")


def _is_tile(viewer: Viewer, url: str) -> bool:
    if viewer.name == "mirador":
        return "/iiif/3/" in url and url.endswith("/default.jpg")
    return "_files/" in url


def _open(page, url: str, slide_id: str, viewer: Viewer) -> None:
    """Opens the slide in `viewer`."""
    if viewer.name == "mirador":
        # Mirador's page, as a site embedding it would serve it, here on the server's origin.
        page_url = f"{url}__bench__/mirador.html"
        page.route(page_url + "*", lambda route: route.fulfill(
            content_type="text/html", body=mirador.page({"drawer": "canvas", **viewer.osd})))
        page.route(f"{url}__bench__/mirador.min.js", lambda route: route.fulfill(
            content_type="text/javascript", path=mirador.script()))
        manifest = f"{url}iiif/3/{slide_id}/manifest.json"
        page.goto(f"{page_url}?manifest={urllib.parse.quote(manifest, safe='')}")
        return
    page.route("**/openseadragon.min.js", _canvas_drawer)
    page.goto(f"{url}view/{slide_id}")


def _settled(page) -> None:
    """Until the viewer says every tile in view is drawn (two frames first: the flag is only
    recomputed on OpenSeadragon's next update)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function("() => document.body.dataset.loaded === 'true'", timeout=WAIT_MS)


def _shown(page) -> dict:
    """The viewer's element on the page and the level-0 rectangle it shows, with its zoom
    against the whole slide's."""
    return page.evaluate("""() => {
        const v = window.wsiViewer, b = v.container.getBoundingClientRect();
        const r = v.world.getItemAt(0).viewportToImageRectangle(v.viewport.getBounds(true));
        return {left: b.left, top: b.top, w: b.width, h: b.height, x: r.x, y: r.y,
                width: r.width, height: r.height,
                zoom: v.viewport.getZoom(true) / v.viewport.getHomeZoom()};
    }""")


def _screen_point(box: dict, tissue: list, rng: random.Random) -> tuple[float, float] | None:
    """A tissue point on the screen `box` (`_shown`), in page coordinates, away from the
    edges and the navigator; None if the screen shows none."""
    shown = []
    for x, y in tissue:
        fx, fy = (x - box["x"]) / box["width"], (y - box["y"]) / box["height"]
        if 0.15 < fx < 0.7 and 0.25 < fy < 0.85:  # the navigator sits top right
            shown.append((box["left"] + fx * box["w"], box["top"] + fy * box["h"]))
    return rng.choice(shown) if shown else None


def _zoom(page, x: float, y: float, viewer: Viewer, zoom_in: bool) -> None:
    """A zoom about (x, y) as the viewer's users make it: a click (shift-click out) in the
    built-in page, as OpenSeadragon's default is a factor of two a click; Mirador turns
    clicks off (its `zoomPerClick` is 1), so there four notches of the wheel, 1.2 each."""
    if viewer.name == "mirador":
        page.mouse.move(x, y)
        for _ in range(4):
            page.mouse.wheel(0, -100 if zoom_in else 100)
            page.wait_for_timeout(40)
        return
    if not zoom_in:
        page.keyboard.down("Shift")
    page.mouse.click(x, y)
    if not zoom_in:
        page.keyboard.up("Shift")


def _move(page, tissue: list, rng: random.Random, viewer: Viewer) -> str | None:
    """One move of a pathologist reading: a zoom in about a tissue point on the screen, a zoom
    out, a drag of 30-50 % of the screen, or a jump to another tissue point (as a navigator
    click pans); the kind, or None if none was possible."""
    box = _shown(page)
    kind = rng.choices(("zoom in", "zoom out", "drag", "jump"), (0.5, 0.15, 0.2, 0.15))[0]
    if kind == "zoom in" and box["width"] / box["w"] < 1:
        kind = "zoom out"  # past one screen pixel a level-0 pixel
    if kind == "zoom out" and box["zoom"] < 1.5:
        kind = "zoom in"
    if kind == "zoom in":
        point = _screen_point(box, tissue, rng)
        if point is None:
            return None
        _zoom(page, *point, viewer, zoom_in=True)
    elif kind == "zoom out":
        _zoom(page, box["left"] + box["w"] / 2, box["top"] + box["h"] / 2, viewer,
              zoom_in=False)
    elif kind == "drag":
        share, angle = rng.uniform(0.3, 0.5), rng.uniform(0, 2 * math.pi)
        x0, y0 = box["left"] + box["w"] / 2, box["top"] + box["h"] / 2
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + math.cos(angle) * share * box["w"],
                        y0 + math.sin(angle) * share * box["h"], steps=8)
        page.mouse.up()
    else:
        x, y = rng.choice(tissue)
        page.evaluate("""([x, y]) => window.wsiViewer.viewport.panTo(
            window.wsiViewer.viewport.imageToViewportCoordinates(x, y))""", [x, y])
    return kind


def run_session(url: str, slide_id: str, tissue: list, moves: int, seed: int,
                screen: tuple[int, int] = tr.VIEWPORT, viewer: Viewer = Viewer()) -> dict:
    """One session in a fresh browser on a screen of `screen` pixels, in `viewer`: the whole
    slide, then `moves` moves, each followed by a pause once every tile in view is drawn; its
    tile records and move timings, the screen the page had and the tiles its viewer starts
    loading a frame."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright

    rng = random.Random(seed)
    tiles, timings = {}, []
    # Each tile request as sent, with the move it belongs to (0: the slide's opening).
    sent, actions, began = [], ["open"], time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": screen[0], "height": screen[1]},
                                      device_scale_factor=1).new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("request", lambda r: sent.append(
                (time.monotonic() - began, r.url, len(actions) - 1))
                if _is_tile(viewer, r.url) else None)
            page.on("response", lambda r: tiles.setdefault(r.request, {}).update(
                timing=r.headers.get("server-timing", ""), status=r.status)
                if _is_tile(viewer, r.url) else None)
            _open(page, url, slide_id, viewer)
            _settled(page)
            shown_screen = page.evaluate("() => [innerWidth, innerHeight]")
            # Tiles OpenSeadragon starts loading a frame: what sets, more than the server,
            # whether a moved screen is drawn by the end of its animation.
            tiles_per_frame = page.evaluate("() => window.wsiViewer.maxTilesPerFrame")
            page.evaluate(MARKS)
            for _ in range(moves):
                started = page.evaluate("() => (window.__marks = [], performance.now())")
                actions.append(None)
                kind = _move(page, tissue, rng, viewer)
                if kind is None:
                    actions.pop()  # no move made: no request is its
                    continue
                actions[-1] = kind
                try:  # a move the viewer's constraints undo at once does not animate
                    page.wait_for_function(
                        "() => window.__marks.some(m => m[0] === 'finish')", timeout=5000)
                except PlaywrightTimeout:
                    continue
                _settled(page)
                marks = page.evaluate("() => window.__marks")
                finished = max(t for mark, t in marks if mark == "finish")
                loaded = max([t for mark, t in marks if mark == "loaded"] or [finished])
                timings.append({"move": kind, "ms": loaded - started,
                                "after_animation_ms": max(0.0, loaded - finished)})
                page.wait_for_timeout(rng.uniform(*PAUSE) * 1000)
            records = []
            for request, seen in tiles.items():
                timing = request.timing
                if seen.get("status") == 200 and timing.get("responseEnd", -1) >= 0:
                    records.append({"ms": timing["responseEnd"],
                                    "store": "store" in seen["timing"]})
        finally:
            browser.close()
    return {"tiles": records, "moves": timings, "screen": shown_screen,
            "tiles_per_frame": tiles_per_frame,
            "sent": [{"t": round(t, 4), "url": url, "step": step, "action": actions[step]}
                     for t, url, step in sent]}


# A browser move as the trace generator names its steps' actions (`style_eval.moves_of`).
TRACE_ACTIONS = {"open": "open", "zoom in": "zoom-in", "zoom out": "zoom-out", "drag": "pan",
                 "jump": "jump"}


def trace_of(sent: list[dict], name: str, info) -> list[dict]:
    """A session's tile requests as sent (`run_session`'s "sent") as trace records the replays
    read (`coverage --trace`): each with its time, move (the step) and DZI level."""
    records = []
    for request in sent:
        parts = urllib.parse.urlsplit(request["url"])
        level = tr.tile_level(request["url"], info.geometry)
        if level is not None:
            records.append({"session": name, "step": request["step"], "t": request["t"],
                            "action": TRACE_ACTIONS[request["action"]], "slide": info.slide_id,
                            "kind": "tile", "level": level,
                            "url": parts.path.lstrip("/") + (f"?{parts.query}" if parts.query
                                                             else "")})
    return records


PREFETCH = ("on", "off")
# Report rows: a cold session with prefetch on and off, and with it on the same session again
# on the same server, every tile it asks for cached: what the browser itself takes.
MODES = ("on", "off", "cached")


def _measured(server, store: SimulatedS3, info, moves: int, seed: int,
              screen: tuple[int, int], viewer: Viewer) -> dict:
    """One session against `server`, with the store requests and prefetched bytes it caused."""
    store.reset()
    before = scrape_metrics(server.url)
    session = run_session(server.url, info.slide_id, info.tissue, moves, seed, screen, viewer)
    time.sleep(0.5)  # the ledgers settle what the last screen used
    after = scrape_metrics(server.url)
    stats = store.stats()

    def grown(name: str) -> float:
        return metric_total(after, name) - metric_total(before, name)
    return {**session, "store_requests": stats["requests"], "store_bytes": stats["bytes"],
            "prefetch_bytes": grown("wsi_prefetch_bytes_total"),
            "prefetch_used_bytes": grown("wsi_prefetch_used_bytes_total"),
            "by_reason": reasons_grown(before, after)}


def _sessions(store: SimulatedS3, info, moves: int, seed: int, prefetch: str,
              screen: tuple[int, int], viewer: Viewer) -> dict:
    """{mode: record} of the session on a fresh server and memcached with prefetch `on` or
    `off`; with it on, also of the same session then replayed warm ("cached")."""
    memcached = Memcached(memory_mb=1024).start()
    env = {**store.server_env(), "WSI_MEMCACHED": memcached.address, "WSI_PREFETCH": prefetch}
    try:
        with LiveServer(None, workers=2, env=env) as server:
            found = {prefetch: _measured(server, store, info, moves, seed, screen, viewer)}
            if prefetch == "on":
                found["cached"] = _measured(server, store, info, moves, seed, screen, viewer)
            return found
    finally:
        memcached.stop()


def _move_figures(moves: list[dict]) -> dict:
    return {"moves": len(moves),
            "drawn_p50": percentile([m["ms"] for m in moves], 50),
            "drawn_p95": percentile([m["ms"] for m in moves], 95),
            "after_p50": percentile([m["after_animation_ms"] for m in moves], 50),
            "after_p95": percentile([m["after_animation_ms"] for m in moves], 95),
            "after_share": (sum(m["after_animation_ms"] > 0 for m in moves) / len(moves)
                            if moves else None)}


def summary(runs: list[dict]) -> dict:
    """One mode's figures, pooled over its runs."""
    tiles = [t for run in runs for t in run["tiles"]]
    moves = [m for run in runs for m in run["moves"]]
    fetched = sum(run["prefetch_bytes"] for run in runs)
    used = sum(run["prefetch_used_bytes"] for run in runs)
    return {
        "runs": len(runs), "tiles": len(tiles),
        "store_wait_share": sum(t["store"] for t in tiles) / len(tiles) if tiles else None,
        "tile_p50": percentile([t["ms"] for t in tiles], 50),
        "tile_p95": percentile([t["ms"] for t in tiles], 95),
        **_move_figures(moves),
        "by_move": {kind: _move_figures([m for m in moves if m["move"] == kind])
                    for kind in sorted({m["move"] for m in moves})},
        "store_requests": sum(run["store_requests"] for run in runs),
        "store_mb": sum(run["store_bytes"] for run in runs) / 1e6,
        "prefetch_mb": fetched / 1e6,
        # None where a session read more than it prefetched: a warm replay reads what the
        # cold one before it prefetched.
        "waste_share": 1 - used / fetched if 0 < fetched and used <= fetched else None,
        "by_reason": pool_reasons(runs),
    }


def to_markdown(results: dict) -> str:
    def f(value, digits=0):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = ["| prefetch | tiles | waited on the store | tile p50 / p95 ms | moves | drawn p50 "
             "/ p95 ms | drawn after the animation: moves, p95 ms | store requests | store MB "
             "| prefetched MB | never used |", "|---" * 11 + "|"]
    for mode, s in results["modes"].items():
        waste = None if s["waste_share"] is None else 100 * s["waste_share"]
        lines.append(
            f"| {mode} | {s['tiles']} | {f(100 * s['store_wait_share'], 1)} % | "
            f"{f(s['tile_p50'], 1)} / {f(s['tile_p95'], 1)} | {s['moves']} | "
            f"{f(s['drawn_p50'])} / {f(s['drawn_p95'])} | "
            f"{f(100 * s['after_share'])} %, {f(s['after_p95'])} | {s['store_requests']} | "
            f"{f(s['store_mb'], 1)} | {f(s['prefetch_mb'], 1)} | {f(waste)} % |")
    reasons = results["modes"].get("on", {}).get("by_reason")
    if reasons:
        lines += ["", "Prefetched bytes by predictor, prefetch on: MB fetched, the share never "
                  "used, the store requests it made, and its jobs dropped or cancelled", ""]
        lines += reasons_markdown(reasons)
    return "\n".join(lines) + "\n"


def run(moves: int, pairs: int, seed: int, layout: str, out: str,
        screen: tuple[int, int] = tr.VIEWPORT, viewer: Viewer = Viewer(),
        trace: str | None = None) -> dict:
    """The sessions' figures by mode, written to `out`; with `trace`, the tile requests of
    the sessions with prefetch off (the viewer's own pace) written there as trace records."""
    slides, _ = ensure_slides(case_of(layout, False)[:1], None, None, print)
    info = tr.slide_info_from_file(slides[0].path, slides[0].slide_id)
    workdir = tempfile.mkdtemp(prefix="wsi-viewer-eval-")
    _link_slides(workdir, slides)
    store = SimulatedS3(workdir, latency_ms=40.0, bandwidth_mbps=100.0).start()
    runs: dict[str, list] = {mode: [] for mode in MODES}
    recorded: list[dict] = []
    try:
        for n in range(pairs):
            for prefetch in PREFETCH[::1 if n % 2 == 0 else -1]:
                for mode, record in _sessions(store, info, moves, seed + n, prefetch,
                                               screen, viewer).items():
                    sent = record.pop("sent")
                    if mode == "off":
                        recorded += trace_of(sent, f"{viewer.name}-{seed + n}", info)
                    runs[mode].append(record)
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results = {"layout": layout, "moves": moves, "seed": seed, "screen": list(screen),
               "viewer": dataclasses.asdict(viewer),
               "modes": {mode: summary(rows) for mode, rows in runs.items()}}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "viewer.json"), "w") as f:
        json.dump({**results, "runs": runs}, f, indent=1)
    with open(os.path.join(out, "viewer.md"), "w") as f:
        f.write(to_markdown(results))
    if trace:
        tr.write_trace(trace, recorded)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=40, help="moves a session")
    parser.add_argument("--pairs", type=int, default=1,
                        help="sessions with prefetch on and off, the order turned each time "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--layout", choices=LAYOUTS, default="aperio")
    parser.add_argument("--screen", type=tr.screen_size, default=tr.VIEWPORT, metavar="WxH",
                        help="the browser's screen (default: 1600x900)")
    parser.add_argument("--viewer", choices=VIEWERS, default="builtin",
                        help="the built-in viewer page (DZI) or stock Mirador (IIIF 3)")
    parser.add_argument("--osd", type=json.loads, default={}, metavar="JSON",
                        help="OpenSeadragon settings Mirador passes on, as its osdConfig: "
                             "'{\"maxTilesPerFrame\": 3}'")
    parser.add_argument("--out", default="bench-report")
    parser.add_argument("--trace", metavar="FILE",
                        help="also write the tile requests of the sessions with prefetch off "
                             "here, as a trace `coverage --trace` replays")
    args = parser.parse_args(argv)
    if args.osd and args.viewer != "mirador":
        parser.error("--osd sets Mirador's OpenSeadragon; the built-in page has its own")
    print(to_markdown(run(args.moves, args.pairs, args.seed, args.layout, args.out,
                          args.screen, Viewer(args.viewer, args.osd), args.trace)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
