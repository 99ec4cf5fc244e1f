"""/healthz carries the version, /readyz names what is not ready (the silent memcached node,
missing viewer files), /metrics the wsi_build_info series."""

import shutil
from importlib import metadata

import pytest

from helpers import testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.bench.services import free_port

SLIDE = "CMU-1-Small-Region.svs"
VERSION = metadata.version("wsi_blueprint")


@pytest.fixture
def folder(tmp_path):
    shutil.copy(testdata_path(SLIDE), tmp_path / SLIDE)
    return tmp_path


def test_healthz_and_metrics_carry_the_version(folder):
    client = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {"status": "ok", "version": VERSION}
    text = client.get("/metrics").get_data(as_text=True)
    assert f'wsi_build_info{{version="{VERSION}"}} 1.0' in text.splitlines()


def test_readyz_names_the_memcached_node_that_does_not_answer(folder, memcached):
    silent = f"127.0.0.1:{free_port()}"
    client = create_app({"WSI_STORE": f"file://{folder}",
                         "WSI_MEMCACHED": f"{memcached.address},{silent}"}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["memcached"] == f"no answer from {silent}"
    assert ready.json["checks"]["store"] == "ok"


def test_readyz_is_ready_when_every_node_answers(folder, memcached):
    client = create_app({"WSI_STORE": f"file://{folder}",
                         "WSI_MEMCACHED": memcached.address}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["memcached"] == "ok"
