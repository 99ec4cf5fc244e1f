"""A host app's flask_caching.Cache as the blueprint's shared tier, end to end: two gunicorn
servers (gevent workers) sharing a real redis-server, redis killed under them, and two apps
sharing a folder-backed cache."""

import logging
import os
import shutil

import pytest
import requests
from cachelib import FileSystemCache
from flask import Flask
from flask_caching import Cache

from helpers import testdata_path
from live_server import REPO_ROOT, GunicornServer
from wsi_blueprint.bench.replay import metric_total, scrape_metrics
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.caches import FlaskCacheTier
from wsi_blueprint.protocols.context import EXTENSION

SLIDE = "CMU-1-Small-Region.svs"
HERE = os.path.dirname(os.path.abspath(__file__))


def tile(level: int, col: int, row: int) -> str:
    return f"pathology/dzi/{SLIDE}_files/{level}/{col}_{row}.jpeg"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path(SLIDE), folder / SLIDE)
    return folder


class HostServer(GunicornServer):
    """tests/caches/redis_host.py under gunicorn, one gevent worker, as conf/ configures it."""

    health_path = "pathology/healthz"

    def __init__(self, folder, redis_url: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("WSI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1", WSI_STORE=f"file://{folder}",
                   HOST_REDIS_URL=redis_url,
                   PYTHONPATH=os.pathsep.join(filter(None, [HERE, env.get("PYTHONPATH")])))

        def args(port: int) -> list[str]:
            env["WSI_BIND"] = f"127.0.0.1:{port}"
            return ["-c", "python:wsi_blueprint.bench.gunicorn_conf", "redis_host:create_app()"]

        super().__init__(args=args, env=env, cwd=REPO_ROOT, name="redis-host")


def metric(server: GunicornServer, name: str, /, **labels: str) -> float:
    """Sum of the samples of `name` on the server's /metrics whose labels include `labels`."""
    samples = scrape_metrics(server.url + "pathology", timeout=10)
    assert samples, "/metrics did not answer"
    return metric_total(samples, name, **labels)


def test_two_servers_share_tiles_through_the_hosts_redis_and_survive_its_loss(folder,
                                                                              redis_server):
    with HostServer(folder, redis_server.url) as a, HostServer(folder, redis_server.url) as b:
        first = requests.get(a.url + tile(10, 1, 1), timeout=30)
        assert first.status_code == 200 and first.headers["Content-Type"] == "image/jpeg"
        assert metric(a, "wsi_cache_hits_total", cache="tiles", tier="l2") == 0

        second = requests.get(b.url + tile(10, 1, 1), timeout=30)
        assert second.status_code == 200 and second.content == first.content
        # b never rendered it: the tile came from redis, the slide's index too
        assert metric(b, "wsi_cache_hits_total", cache="tiles", tier="l2") == 1
        assert metric(b, "wsi_cache_hits_total", cache="metadata", tier="l2") >= 1
        assert requests.get(b.url + "pathology/readyz", timeout=10).status_code == 200

        redis_server.stop()
        for server in (a, b):
            for path in (tile(10, 1, 1), tile(10, 0, 0), tile(11, 2, 3), tile(9, 0, 0)):
                response = requests.get(server.url + path, timeout=30)
                assert response.status_code == 200, (path, response.text[:200])
                assert response.headers["Content-Type"] == "image/jpeg"
            ready = requests.get(server.url + "pathology/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["shared_cache"].startswith("no answer from the host's")
        assert metric(a, "wsi_shared_cache_errors_total") >= 1
        assert metric(b, "wsi_shared_cache_errors_total") >= 1
        assert "Traceback" not in a.log + b.log

        redis_server.start()
        assert requests.get(a.url + "pathology/readyz", timeout=10).status_code == 200


def host_app(folder, cache_dir, **config) -> Flask:
    app = Flask("host")
    app.config.update(WSI_STORE=f"file://{folder}", WSI_PREFETCH="off", CACHE_DIR=str(cache_dir),
                      CACHE_TYPE="FileSystemCache", CACHE_THRESHOLD=0, **config)
    cache = Cache(app)
    app.register_blueprint(create_blueprint(cache=cache), url_prefix="/pathology")
    return app


def test_a_folder_backed_host_cache_is_shared_by_two_apps(folder, tmp_path):
    a, b = host_app(folder, tmp_path), host_app(folder, tmp_path)
    first = a.test_client().get("/" + tile(11, 2, 2))
    assert first.status_code == 200
    second = b.test_client().get("/" + tile(11, 2, 2))
    assert second.status_code == 200 and second.data == first.data
    counters = b.extensions[EXTENSION]["wsi"].counters
    assert counters.get("cache_hits", cache="tiles", tier="l2") == 1
    assert counters.get("tile_requests", source="cache") == 1  # no store read in b's request


def test_the_host_cache_takes_the_place_of_memcached(folder, tmp_path, memcached, caplog):
    with caplog.at_level(logging.WARNING, logger="wsi_blueprint.blueprint"):
        app = host_app(folder, tmp_path, WSI_MEMCACHED=memcached.address)
    assert "WSI_MEMCACHED is ignored" in caplog.text
    caches = app.extensions[EXTENSION]["wsi"].caches
    assert isinstance(caches.shared, FlaskCacheTier)
    assert caches.tiles.shared is caches.blocks.shared is caches.metadata.shared is caches.shared


def test_a_host_cache_not_initialised_on_the_app_is_refused_at_registration(folder):
    app = Flask("host")
    app.config.update(WSI_STORE=f"file://{folder}")
    cache = Cache(config={"CACHE_TYPE": "SimpleCache"})
    with pytest.raises(ValueError, match="init_app"):
        app.register_blueprint(create_blueprint(cache=cache))


def test_a_bare_cachelib_cache_serves_as_the_host_cache_too(folder, tmp_path):
    """`cache=` takes a cachelib cache as it is: here a folder that a flask_caching app
    filled."""
    writer = host_app(folder, tmp_path)
    first = writer.test_client().get("/" + tile(11, 3, 3))
    reader = Flask("host")
    reader.config.update(WSI_STORE=f"file://{folder}", WSI_PREFETCH="off")
    reader.register_blueprint(create_blueprint(cache=FileSystemCache(str(tmp_path), threshold=0)),
                              url_prefix="/pathology")
    second = reader.test_client().get("/" + tile(11, 3, 3))
    assert second.status_code == 200 and second.data == first.data
    counters = reader.extensions[EXTENSION]["wsi"].counters
    assert counters.get("cache_hits", cache="tiles", tier="l2") == 1
