"""A short soak in the default run: 40 viewers at once for 20 s over 200 distinct slides.
(`python -m wsi_blueprint.bench.soak` runs 200 viewers for 5 minutes.)"""

import os
import tempfile

from wsi_blueprint.bench.soak import CACHE_BUDGET, run

SLACK_MB = 96  # interpreter arenas, sockets, per-slide state of 200 open slides


def test_errors_latency_and_memory_stay_flat_under_load(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    windows = run(viewers=40, seconds=20, slides=200, window=5.0)
    assert not [name for name in os.listdir(tmp_path) if name.startswith("wsi-soak-")]
    idle, loaded = windows[0], windows[1:]
    assert len(loaded) >= 4 and all(w.requests > 0 for w in loaded)
    assert sum(w.errors for w in loaded) == 0
    p95s = sorted(w.p95_ms for w in loaded if w.p95_ms is not None)
    assert p95s[-1] <= 3 * p95s[len(p95s) // 2], p95s  # no window far worse than the median
    for pid, base in idle.rss_mb.items():
        peak = max(w.rss_mb.get(pid) or 0 for w in loaded)
        assert peak <= base + CACHE_BUDGET / 2 ** 20 + SLACK_MB, (pid, base, peak)
