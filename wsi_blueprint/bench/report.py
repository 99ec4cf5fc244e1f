"""The benchmark report: markdown tables, PNG plots and every figure as JSON, in one folder.

    report.md             headline per server, per-session figures, throughput, CPU per
                          derived tile against the codecs' floor, set-up
    results.json          everything measured (latencies of every tile included)
    latency_cdf.png       tile latency CDF per server, cold and warm
    store_per_session.png store requests and megabytes per session, cold and warm
    throughput.png        requests per second, cached and derived tiles

`headline(results)` gives the per-server summary rows the markdown and the CLI print. Store
traffic is priced as the server's CostModel prices it, at the rates the run used
(`config["prices"]`; S3 Standard GET requests by default).
"""

import json
import os
import statistics

from ..accounting import CostModel
from ..settings import SETTINGS
from .hot_path import markdown as hot_path_markdown
from .replay import percentile

_DEFAULTS = {setting.key: setting.default for setting in SETTINGS}
# The server's own default prices (S3 Standard GET requests, no transfer charge).
DEFAULT_PRICES = {"cost_per_1000_requests": _DEFAULTS["WSI_COST_PER_1000_REQUESTS"],
                  "cost_per_gb": _DEFAULTS["WSI_COST_PER_GB"]}


def store_price(store: dict, prices: dict) -> float:
    """Dollars for `store` {"requests", "bytes"} at `prices`, as the server's CostModel
    prices its own store traffic."""
    model = CostModel(prices["cost_per_1000_requests"], prices["cost_per_gb"])
    return store["requests"] * model.per_request + store["bytes"] * model.per_byte


def _fmt(value, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    else:
        text = f"{value:,}"
    return text + unit


def _ms(value) -> str:
    return _fmt(value, 1 if value is not None and value < 100 else 0)


def _mb(value) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.2f}"


def _ratios(ratios: dict | None) -> str:
    """'tiles 97% (l1 60%, l2 37%)': hits over lookups, and the share each tier answered."""
    if not ratios:
        return "n/a"
    parts = []
    for cache, v in sorted(ratios.items()):
        lookups = v["hits"] + v["misses"]
        if not lookups:
            continue
        tiers = ", ".join(f"{tier} {hits / lookups:.0%}" for tier, hits in sorted(
            v["tiers"].items()) if hits)
        parts.append(f"{cache} {v['hits'] / lookups:.0%}" + (f" ({tiers})" if tiers else ""))
    return "; ".join(parts) or "n/a"


def merge_ratios(parts: list) -> dict | None:
    """Cache ratios of several scrape intervals (replay.cache_ratios) added up."""
    merged: dict = {}
    for ratios in parts:
        for cache, v in (ratios or {}).items():
            entry = merged.setdefault(cache, {"hits": 0.0, "misses": 0.0, "tiers": {}})
            entry["hits"] += v["hits"]
            entry["misses"] += v["misses"]
            for tier, hits in v["tiers"].items():
                entry["tiers"][tier] = entry["tiers"].get(tier, 0.0) + hits
    return merged or None


def _cache_table(results: dict) -> list[str]:
    rows = []
    for name, target in results["targets"].items():
        for phase in ("cold", "warm"):
            merged = merge_ratios([s[phase].get("cache_ratios")
                                    for s in target.get("sessions", [])])
            if merged:
                rows.append(f"| {name} | {phase} | {_ratios(merged)} |")
    return rows


def _prices(results: dict) -> dict:
    return results.get("config", {}).get("prices") or DEFAULT_PRICES


def _per_1000(dollars) -> str:
    """Dollars per session shown per 1,000 sessions: a session alone costs fractions of a cent."""
    return "n/a" if dollars is None else f"${dollars * 1000:,.3f}"


def headline(results: dict) -> list[dict]:
    rows = []
    prices = _prices(results)
    for name, target in results["targets"].items():
        if target.get("skipped"):
            rows.append({"server": name, "skipped": target["skipped"]})
            continue
        sessions = target["sessions"]
        cold = [v for s in sessions for v in s["cold"]["latencies"]]
        warm = [v for s in sessions for v in s["warm"]["latencies"]]
        ttft_cold = [v for s in sessions for v in s["cold"]["ttft"]]
        ttft_warm = [v for s in sessions for v in s["warm"]["ttft"]]
        views_cold = [v for s in sessions for v in s["cold"]["views"]]
        store = target.get("uses_store")

        def per_session(phase: str, key: str):
            if not store:
                return None
            return statistics.mean(s[phase]["store"][key] for s in sessions)

        def price_per_session(phase: str):
            if not store:
                return None
            return statistics.mean(store_price(s[phase]["store"], prices) for s in sessions)

        throughput = target.get("throughput", {})
        rows.append({
            "server": name,
            "cold_p50": percentile(cold, 50), "cold_p95": percentile(cold, 95),
            "cold_p99": percentile(cold, 99),
            "warm_p50": percentile(warm, 50), "warm_p95": percentile(warm, 95),
            "warm_p99": percentile(warm, 99),
            "ttft_cold": statistics.median(ttft_cold) if ttft_cold else None,
            "ttft_cold_max": max(ttft_cold, default=None),
            "ttft_warm": statistics.median(ttft_warm) if ttft_warm else None,
            "view_cold_p50": percentile(views_cold, 50),
            "view_cold_p95": percentile(views_cold, 95),
            "store_requests_cold": per_session("cold", "requests"),
            "store_bytes_cold": per_session("cold", "bytes"),
            "store_requests_warm": per_session("warm", "requests"),
            "store_bytes_warm": per_session("warm", "bytes"),
            "store_dollars_cold": price_per_session("cold"),
            "store_dollars_warm": price_per_session("warm"),
            "tiles_per_session": statistics.mean(len(s["cold"]["latencies"]) for s in sessions),
            "errors": sum(s["cold"]["errors"] + s["warm"]["errors"] for s in sessions),
            "rps_cached": (throughput.get("cached") or {}).get("rps"),
            "rps_derived": (throughput.get("derived") or {}).get("rps"),
            "rps_derived_lower_bound": bool((throughput.get("derived") or {}).get("exhausted")),
        })
    return rows


def _markdown(results: dict, rows: list[dict], plots: list[str]) -> str:
    cfg = results["config"]
    prices = _prices(results)
    out = ["# wsi_blueprint benchmark", "",
           f"Run {results['started']} on {results['machine']['cores']} cores "
           f"({results['machine']['platform']}), {results['seconds']:.0f} s in all. "
           f"Ratios within one run are what count: absolute figures move with the machine.", ""]
    out += ["## Headline", "",
            "Tile latency in ms (send to last byte, with the viewer's "
            f"{cfg['concurrency']} parallel requests); cold = fresh server and caches, warm = "
            "the same session again; TTFT = time to first tile of a slide opened (descriptor "
            "request sent -> first tile received, median); store = requests and MB the "
            "simulated S3 served per session, and its price per 1,000 such sessions (see "
            "Set-up); throughput in requests/s.", "",
            "| server | cold p50 | cold p95 | cold p99 | warm p50 | warm p95 | warm p99 | "
            "TTFT cold | TTFT warm | store req/session cold | store MB/session cold | "
            "store $/1,000 sessions cold | store req/session warm | cached tiles/s | "
            "derived tiles/s | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            out.append(f"| {r['server']} | skipped: {r['skipped']} |" + " |" * 14)
            continue
        out.append(
            f"| {r['server']} | {_ms(r['cold_p50'])} | {_ms(r['cold_p95'])} | "
            f"{_ms(r['cold_p99'])} | {_ms(r['warm_p50'])} | {_ms(r['warm_p95'])} | "
            f"{_ms(r['warm_p99'])} | {_ms(r['ttft_cold'])} | {_ms(r['ttft_warm'])} | "
            f"{_fmt(r['store_requests_cold'], 0)} | {_mb(r['store_bytes_cold'])} | "
            f"{_per_1000(r['store_dollars_cold'])} | "
            f"{_fmt(r['store_requests_warm'], 0)} | {_fmt(r['rps_cached'], 0)} | "
            f"{'≥' if r['rps_derived_lower_bound'] else ''}{_fmt(r['rps_derived'], 0)} | "
            f"{r['errors']} |")
    out.append("")
    for name, target in results["targets"].items():
        out.append(f"- **{name}**: {target['description']}")
    for name, target in results["targets"].items():
        if target.get("skipped_sessions"):
            out.append(f"- {name} played {len(target['sessions'])} session(s): a pass was cut "
                       f"short after {cfg.get('max_session_seconds', 0):g} s, so "
                       f"{', '.join(target['skipped_sessions'])} did not run")
    out.append("")

    out += ["## Sessions", "",
            "| server | session | pass | tiles | p50 | p95 | p99 | view load p50 | "
            "view load p95 | TTFT per slide | store requests | store MB | "
            "store $/1,000 sessions | cache hit ratios | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, target in results["targets"].items():
        for s in target.get("sessions", []):
            for phase in ("cold", "warm"):
                p = s[phase]
                lat = p["latencies"]
                ratios = p.get("cache_ratios")
                ratio_text = _ratios(ratios)
                store = p["store"] if target.get("uses_store") else None
                out.append(
                    f"| {name} | {s['session']} | {phase} | {len(lat)} | "
                    f"{_ms(percentile(lat, 50))} | {_ms(percentile(lat, 95))} | "
                    f"{_ms(percentile(lat, 99))} | {_ms(percentile(p['views'], 50))} | "
                    f"{_ms(percentile(p['views'], 95))} | "
                    f"{', '.join(_ms(v) for v in p['ttft']) or 'n/a'} | "
                    f"{_fmt(store['requests']) if store else 'n/a'} | "
                    f"{_mb(store['bytes']) if store else 'n/a'} | "
                    f"{_per_1000(store_price(store, prices) if store else None)} | "
                    f"{ratio_text} | "
                    f"{p['seconds']:.1f}"
                    f"{' (cut short)' if p.get('truncated') else ''} |")
    out.append("")

    cache_rows = _cache_table(results)
    if cache_rows:
        out += ["## Cache hit ratios", "",
                "From the server's /metrics (all workers), summed over the sessions: hits over "
                "lookups per cache, and the share of lookups each tier answered (l1 in process, "
                "l2 memcached).", "", "| server | pass | hit ratios |", "|---|---|---|"]
        out += cache_rows + [""]
    out += ["## Throughput", "",
            f"Bounded runs of {cfg['load_seconds']:g} s over {cfg['connections']} connections. "
            "Cached: the tiles of the last session again and again (served from the tile cache "
            "where there is one). Derived: distinct tiles of DZI levels that no stored level "
            "matches, each asked for once (decode, resample, encode; store reads where the "
            "blocks are not cached). ≥: every distinct tile was asked for before the time was "
            "up, so the rate is a lower bound.", "",
            "| server | kind | tool | requests | requests/s | p50 ms | p99 ms | errors | "
            "store requests | store MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, target in results["targets"].items():
        for kind, t in (target.get("throughput") or {}).items():
            if not t:
                continue
            store = t.get("store") if target.get("uses_store") else None
            out.append(f"| {name} | {kind} | {t['tool']} | {t['requests']:,} | "
                       f"{'≥' if t.get('exhausted') else ''}{_fmt(t['rps'], 0)} | "
                       f"{_ms(t['p50_ms'])} | {_ms(t['p99_ms'])} | "
                       f"{t['errors']} | {_fmt(store['requests']) if store else 'n/a'} | "
                       f"{_mb(store['bytes']) if store else 'n/a'} |")
    out.append("")

    if results.get("dicom"):
        from .dicom_case import to_markdown as dicom_markdown
        out += dicom_markdown(results["dicom"])
    from .derived_cpu import report_lines
    out += report_lines(results.get("derived_cpu"))
    out += hot_path_markdown(results.get("hot_path") or [])

    out += ["## Set-up", ""]
    for slide in results["slides"]:
        size = f"{slide['size'] / 1e6:,.0f} MB, " if slide.get("size") else ""
        out.append(f"- slide `{slide['slide_id']}`: {slide['width']} x {slide['height']}, "
                   f"{size}stored levels at "
                   f"{', '.join('1/' + str(n) for n in slide['native'])}, "
                   f"DZI tile {slide['tile_size']}")
    out.append(f"- pixels: {results['pixels']}")
    out.append(f"- trace: {results['trace']['sessions']} session(s), "
               f"{results['trace']['requests']:,} requests "
               f"(`{os.path.basename(results['trace']['path'])}` in this folder)")
    if cfg.get("store", True):
        out.append(f"- simulated S3: {cfg['latency_ms']:g} ms first-byte latency, "
                   + (f"{cfg['bandwidth_mbps']:g} MB/s per response" if cfg['bandwidth_mbps']
                      else "no bandwidth cap") + ", ranged GETs from the local file")
        out.append(f"- store prices: ${prices['cost_per_1000_requests']:g} per 1,000 GET "
                   f"requests, ${prices['cost_per_gb']:g} per GB read (the server's CostModel; "
                   "S3 Standard GET requests unless --cost-per-1000-requests and --cost-per-gb "
                   "say otherwise)")
        out.append(f"- servers: {cfg['workers']} worker processes each; wsi_blueprint with "
                   + ("memcached shared by its workers" if cfg.get("memcached") else
                      "in-process caches only"))
    out.append(f"- viewer: {cfg['concurrency']} parallel requests, 1600 x 900 viewport")
    for note in results.get("notes", []):
        out.append(f"- {note}")
    out.append("")
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    out.append("Reproduce: `" + results["command"] + "`")
    out.append("")
    return "\n".join(out)



def _save(fig, folder: str, name: str) -> str:
    """Writes a finished figure as a PNG and frees it; returns the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(os.path.join(folder, name), dpi=110)
    plt.close(fig)
    return name

def _plots(results: dict, folder: str) -> list[str]:
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    targets = {n: t for n, t in results["targets"].items() if not t.get("skipped")}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, (name, target) in enumerate(targets.items()):
        for phase, style in (("cold", "-"), ("warm", "--")):
            values = sorted(v for s in target["sessions"] for v in s[phase]["latencies"])
            if not values:
                continue
            fractions = [(k + 1) / len(values) for k in range(len(values))]
            ax.plot(values, fractions, style, color=colours[i % len(colours)],
                    label=f"{name} ({phase})", linewidth=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("tile latency (ms, log scale)")
    ax.set_ylabel("fraction of tiles")
    ax.set_title("DZI tile latency, replayed viewing sessions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    written.append(_save(fig, folder, "latency_cdf.png"))

    stored = {n: t for n, t in targets.items() if t.get("uses_store")}
    if stored:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        width = 0.38
        labels = [f"{name}\n{s['session']}" for name, target in stored.items()
                  for s in target["sessions"]]
        positions = range(len(labels))
        for ax, key, title, scale in (
                (axes[0], "requests", "store requests per session (log scale)", 1),
                (axes[1], "bytes", "store MB per session (log scale)", 1e6)):
            cold = [s["cold"]["store"][key] / scale for t in stored.values() for s in t["sessions"]]
            warm = [s["warm"]["store"][key] / scale for t in stored.values() for s in t["sessions"]]
            for values, offset, label in ((cold, -width / 2, "cold"), (warm, width / 2, "warm")):
                bars = ax.bar([p + offset for p in positions], values, width, label=label)
                ax.bar_label(bars, fmt="%.0f" if scale == 1 else "%.1f", fontsize=6)
            ax.set_yscale("symlog", linthresh=1)  # peers differ by orders of magnitude
            ax.set_xticks(list(positions))
            ax.set_xticklabels(labels, fontsize=7)
            ax.set_title(title)
            ax.grid(True, axis="y", alpha=0.3)
            ax.legend(fontsize=8)
        written.append(_save(fig, folder, "store_per_session.png"))

    with_load = {n: t["throughput"] for n, t in targets.items() if t.get("throughput")}
    if with_load:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        names = list(with_load)
        width = 0.38
        for kind, offset in (("cached", -width / 2), ("derived", width / 2)):
            values = [(with_load[n].get(kind) or {}).get("rps") or 0 for n in names]
            bars = ax.bar([i + offset for i in range(len(names))], values, width, label=kind)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel("requests per second")
        ax.set_title("Throughput under concurrent load")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(fig, folder, "throughput.png"))
    return written


def write_report(results: dict, folder: str) -> dict:
    """Writes report.md, results.json and the plots; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    rows = headline(results)
    plots = _plots(results, folder)
    if not plots:
        results.setdefault("notes", []).append(
            "plots skipped: matplotlib is not installed (pip install 'wsi_blueprint[bench]')")
    markdown = _markdown(results, rows, plots)
    paths = {"markdown": os.path.join(folder, "report.md"),
             "json": os.path.join(folder, "results.json")}
    with open(paths["markdown"], "w", encoding="utf-8") as f:
        f.write(markdown)
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump({**results, "headline": rows}, f, indent=1)
    paths["plots"] = [os.path.join(folder, p) for p in plots]
    return paths
