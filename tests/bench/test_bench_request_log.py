"""The opt-in request log writes trace lines, without tokens, that replay reads."""

import json

from flask import Flask

from wsi_blueprint.bench.replay import sessions_of
from wsi_blueprint.request_log import init_app
from wsi_blueprint.bench.traces import read_trace


def test_log_lines_are_a_replayable_trace(tmp_path):
    app = Flask("t")
    log = tmp_path / "requests.jsonl"
    app.config["WSI_REQUEST_LOG"] = str(log)

    @app.route("/dzi/<path:rest>")
    @app.route("/t/<token>/dzi/<path:rest>")
    def dzi(rest, token=None):
        return b"x" * 10

    @app.route("/healthz")
    def healthz():
        return "ok"

    assert init_app(app)
    client = app.test_client()
    client.get("/dzi/a.svs.dzi")
    client.get("/dzi/a.svs_files/9/0_0.jpeg?token=secret&tile_size=254",
               headers={"X-WSI-Session": "viewer-1"})
    client.get("/t/abc.def/dzi/a.svs_files/10/1_0.jpeg")
    client.get("/healthz")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["url"] for r in lines] == ["dzi/a.svs.dzi",
                                         "dzi/a.svs_files/9/0_0.jpeg?tile_size=254",
                                         "dzi/a.svs_files/10/1_0.jpeg"]
    assert "secret" not in log.read_text() and "abc.def" not in log.read_text()
    assert lines[1]["session"] == "viewer-1" and lines[0]["session"] == lines[2]["session"]
    assert all(r["status"] == 200 and r["bytes"] == 10 for r in lines)
    sessions = sessions_of(read_trace(str(log)))
    assert sum(len(s.requests) for steps in sessions.values() for s in steps) == 3


def test_off_without_a_path():
    assert not init_app(Flask("t"))
