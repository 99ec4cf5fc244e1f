"""A store's own failures reach the client as what they are (a missing bucket is 502, not an
unknown slide), and an endpoint that does not answer is logged once, naming its address."""

import logging
import shutil

import pytest
import requests

from helpers import RangeFileServer, free_port, testdata_path
from live_server import LiveServer
from wsi_blueprint.app import create_app

SLIDE_URLS = ("slides/cases/a.svs", "slides/cases/a.svs/thumbnail", "tiles/cases/a.svs/0/0/0.jpg",
              "dzi/cases/a.svs.dzi", "dzi/cases/a.svs_files/0/0_0.jpeg",
              "iiif/3/cases/a.svs/info.json", "iiif/2/cases/a.svs/info.json",
              "iiif/3/cases/a.svs/manifest.json")
REACHABILITY_LOGGER = "wsi_blueprint.storage.reachability"


def app_for(store: str, **config):
    return create_app({"WSI_STORE": store, "WSI_PREFETCH": "off", "WSI_STORE_RETRIES": "0",
                       **config}).test_client()


def test_a_missing_bucket_is_a_502_naming_it_on_every_route(s3_server):
    client = app_for("s3://no-such-bucket-7f3a/root", WSI_S3_ENDPOINT_URL=s3_server.endpoint)
    for path in ("slides", *SLIDE_URLS):
        response = client.get("/" + path)
        body = response.get_json()
        assert response.status_code == 502, (path, body)
        assert body["error"] == "store_error" and "'no-such-bucket-7f3a'" in body["message"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no-such-bucket-7f3a" in ready.get_json()["checks"]["store"]


def test_a_missing_slide_in_a_bucket_that_exists_stays_404(s3_server, s3_bucket):
    client = app_for(f"s3://{s3_bucket}/root", WSI_S3_ENDPOINT_URL=s3_server.endpoint)
    for path in SLIDE_URLS:
        response = client.get("/" + path)
        assert response.status_code == 404, (path, response.get_json())
        assert response.get_json()["error"] == "slide_not_found"


def unreachable_warnings(caplog, address: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == REACHABILITY_LOGGER and address in r.getMessage()]


@pytest.mark.parametrize("kind", ["s3", "http"])
def test_an_unreachable_endpoint_is_logged_once_with_its_address(kind, caplog):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = (dict(store="s3://slides/root", WSI_S3_ENDPOINT_URL=f"http://{address}")
             if kind == "s3" else dict(store=f"http://{address}/slides/"))
    client = app_for(store.pop("store"), **store)
    caplog.set_level(logging.WARNING, logger=REACHABILITY_LOGGER)
    for _ in range(3):
        for path in SLIDE_URLS[:3]:
            response = client.get("/" + path)
            assert response.status_code == 503, (path, response.get_json())
            assert response.get_json()["error"] == "store_unavailable"
            assert address not in response.get_json()["message"]  # the log has it, not clients
    if kind == "s3":
        assert client.get("/slides").status_code == 503
    lines = unreachable_warnings(caplog, address)
    assert len(lines) == 1, lines
    assert "unreachable" in lines[0] and "Connection refused" in lines[0]


def test_an_endpoint_that_is_back_is_logged_and_a_new_outage_is_logged_anew(
        tmp_path, caplog):
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), tmp_path / "a.svs")
    port = free_port()
    address = f"127.0.0.1:{port}"
    client = app_for(f"http://{address}/")
    caplog.set_level(logging.WARNING, logger=REACHABILITY_LOGGER)
    assert client.get("/slides/a.svs").status_code == 503
    server = RangeFileServer(str(tmp_path), port=port)
    try:
        assert client.get("/slides/a.svs").status_code == 200
    finally:
        server.stop()
    assert client.get("/dzi/b.svs.dzi").status_code == 503
    lines = unreachable_warnings(caplog, address)
    assert [("unreachable" in line, "reachable again" in line) for line in lines] == [
        (True, False), (False, True), (True, False)], lines


def test_under_gunicorn_an_unreachable_store_is_one_warning_not_one_per_request():
    address = f"127.0.0.1:{free_port()}"
    env = {"WSI_STORE": "s3://slides/root", "WSI_S3_ENDPOINT_URL": f"http://{address}",
           "WSI_STORE_RETRIES": "0", "WSI_PREFETCH": "off"}
    with LiveServer(workers=1, env=env) as live:
        for path in ("slides", *SLIDE_URLS[:4], "readyz"):
            for _ in range(2):
                assert requests.get(live.url + path, timeout=10).status_code == 503, path
        log = live.log
    warnings = [line for line in log.splitlines() if "store endpoint" in line]
    assert len(warnings) == 1, log[-3000:]
    assert f"http://{address} is unreachable (Connection refused)" in warnings[0]
    assert "[WARNING] wsi_blueprint.storage.reachability" in warnings[0]
