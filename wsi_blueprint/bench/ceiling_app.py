"""The ceiling of the cached-tile throughput: a minimal Flask app handing out tile-sized bodies
from memory, served by the same gunicorn settings as the server.

    WSI_CEILING_SIZES=/path/sizes.json gunicorn -c python:wsi_blueprint.bench.gunicorn_conf \
        "wsi_blueprint.bench.ceiling_app:create_app()"

sizes.json lists body sizes in bytes (those of the cached tiles measured); `GET /tile/<i>`
answers body i modulo their count as image/jpeg, so the load sends as many distinct bodies of
the same sizes as the cached-tile run does. Whatever Python, Flask and gunicorn cost per request
is in this figure; whatever wsi_blueprint adds on top (routing, caches, headers, metrics) is not.
"""

import json
import os

from flask import Flask, Response

SIZES_ENV = "WSI_CEILING_SIZES"


def tile_paths(count: int, sizes: int) -> list[str]:
    """`count` request paths cycling over the `sizes` distinct bodies."""
    return [f"tile/{i % sizes}" for i in range(count)]


def create_app() -> Flask:
    with open(os.environ[SIZES_ENV], encoding="utf-8") as f:
        sizes = json.load(f)
    # distinct bytes per body, so no layer between could answer them all from one copy
    bodies = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return "ok"

    @app.get("/tile/<int:index>")
    def tile(index: int):
        return Response(bodies[index % len(bodies)], mimetype="image/jpeg")

    return app
