"""The running server (gunicorn, two gevent workers, memcached) reading through a faulty store.

For each fault: the expected behaviour (retried and served; a clean 502/503/504 JSON; the new
version after a replace), every tile served compared byte for byte with a fault-free reference,
no worker dying but the one killed, and the time to recover measured and bounded.
"""

import os
import re
import shutil
import signal
import time

import pytest
import requests
import tifffile

from faulty_proxy import FaultyProxy
from helpers import Memcached, RangeFileServer, testdata_path
from live_server import LiveServer
from wsi_blueprint.app import create_app
from wsi_blueprint.sample import write_sample

SLIDE = "cmu.svs"
RETRIES = 2
READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / SLIDE)
    origin = RangeFileServer(str(folder))
    proxy = FaultyProxy(origin.url)
    memcached = Memcached().start()
    server = LiveServer(tmp_path_factory.mktemp("unused"), workers=2, env={
        "WSI_STORE": proxy.url, "WSI_MEMCACHED": memcached.address, "WSI_BLOCK_SIZE": "16K",
        "WSI_STORE_RETRIES": str(RETRIES), "WSI_STORE_READ_TIMEOUT": str(READ_TIMEOUT),
        "WSI_STORE_CONNECT_TIMEOUT": "1", "WSI_PREFETCH": "off"}).start()
    reference = create_app({"WSI_STORE": f"file://{folder}", "WSI_PREFETCH": "off"})
    yield {"folder": folder, "proxy": proxy, "memcached": memcached, "server": server,
           "reference": reference.test_client()}
    server.stop()
    memcached.stop()
    proxy.stop()
    origin.stop()


@pytest.fixture(autouse=True)
def no_leftover_faults(world):
    world["proxy"].clear()
    yield
    world["proxy"].clear()


BLOCK = 16 * 1024


def _isolated_tiles() -> list[tuple[int, int]]:
    """Stored tiles of level 0 whose 16 KiB blocks no other chosen tile (nor the file's first
    blocks) touches: reading any of them needs the store, whatever was read before."""
    with tifffile.TiffFile(testdata_path("CMU-1-Small-Region.svs")) as tiff:
        page = tiff.pages[0]
        columns = -(-page.imagewidth // page.tilewidth)
        spans = [(i % columns, i // columns, offset // BLOCK, (offset + count - 1) // BLOCK)
                 for i, (offset, count) in enumerate(zip(page.dataoffsets,
                                                         page.databytecounts))]
    taken, chosen = set(range(4)), []
    for col, row, first, last in sorted(spans, key=lambda s: -(s[3] - s[2])):
        blocks = set(range(first, last + 1))
        if not blocks & taken and col < 9 and row < 11:  # inside the replacement's grid too
            taken |= blocks
            chosen.append((col, row))
    return chosen


_tiles = iter(_isolated_tiles())


def fresh_tile(world) -> str:
    """A full-resolution DZI tile (the stored tile itself) that needs the store."""
    col, row = next(_tiles)
    return f"dzi/{SLIDE}_files/12/{col}_{row}.jpeg"


def get(world, path: str):
    began = time.monotonic()
    response = requests.get(world["server"].url + path, timeout=30)
    return response, time.monotonic() - began


def assert_right(world, path: str, response) -> None:
    assert response.status_code == 200, response.text[:300]
    assert response.content == world["reference"].get("/" + path).data, f"wrong bytes: {path}"


def assert_clean_error(response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status and "Traceback" not in response.text


def test_baseline(world):
    path = fresh_tile(world)
    response, _ = get(world, path)
    assert_right(world, path, response)


@pytest.mark.parametrize("kind,options", [("status", {"status": 503}),
                                          ("status", {"status": 500}),
                                          ("reset", {}), ("truncate", {}),
                                          ("stall", {"seconds": 2 * READ_TIMEOUT + 1})])
def test_a_short_burst_of_faults_is_retried_and_served_right(world, kind, options):
    world["proxy"].inject(kind, count=RETRIES, **options)
    before = world["proxy"].requests
    path = fresh_tile(world)
    response, seconds = get(world, path)
    assert_right(world, path, response)
    assert world["proxy"].requests - before >= RETRIES + 1  # the faults were met, and passed
    assert seconds < 15


@pytest.mark.parametrize("kind,options,status", [("status", {"status": 503}, 502),
                                                 ("reset", {}, 503),
                                                 ("stall", {"seconds": 2 * READ_TIMEOUT + 1},
                                                  504)])
def test_faults_outlasting_the_retries_give_a_clean_error_then_recover(world, kind, options,
                                                                       status):
    world["proxy"].inject(kind, count=RETRIES + 1, **options)
    path = fresh_tile(world)
    response, seconds = get(world, path)
    assert_clean_error(response, status)
    assert seconds < (RETRIES + 1) * (READ_TIMEOUT + 1 + 2 * READ_TIMEOUT + 1) + 5
    fault_over = time.monotonic()
    response, _ = get(world, path)  # the store is well again: the same tile is served
    assert_right(world, path, response)
    print(f"{kind}: recovered {time.monotonic() - fault_over:.3f} s after the fault ended")


def test_a_store_ignoring_range_is_refused_without_reading_the_object(world):
    world["proxy"].inject("whole", count=1)
    path = fresh_tile(world)
    response, _ = get(world, path)
    assert_clean_error(response, 502)
    assert "Range" in response.json()["message"]
    response, _ = get(world, path)
    assert_right(world, path, response)


def test_memcached_killed_and_restarted_loses_no_request(world):
    world["memcached"].stop()
    for _ in range(3):
        path = fresh_tile(world)
        response, _ = get(world, path)
        assert_right(world, path, response)
    world["memcached"].start()
    path = fresh_tile(world)
    response, _ = get(world, path)
    assert_right(world, path, response)


def test_a_killed_worker_is_replaced_and_nothing_else_dies(world):
    server = world["server"]
    booted = re.findall(r"Booting worker with pid: (\d+)", server.log)
    victim = int(booted[-1])
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    served = 0
    path = fresh_tile(world)
    while served < 4 and time.monotonic() - killed_at < 30:
        try:
            response, _ = get(world, path)
        except requests.ConnectionError:
            continue  # a request the dying worker held: asked again
        assert_right(world, path, response)
        served += 1
        path = fresh_tile(world)
    assert served == 4
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(re.findall(r"Booting worker with pid", server.log)) == len(booted) + 1:
            break
        time.sleep(0.1)
    log = server.log
    assert len(re.findall(r"Booting worker with pid", log)) == len(booted) + 1
    print(f"worker replaced {time.monotonic() - killed_at:.2f} s after the kill")
    assert "Traceback" not in log


def test_an_object_replaced_mid_session_is_reopened_never_mixed(world, tmp_path):
    folder = world["folder"]
    old = {}
    for _ in range(2):
        path = fresh_tile(world)
        old[path] = world["reference"].get("/" + path).data
        assert_right(world, path, get(world, path)[0])
    replacement = tmp_path / "new.tiff"
    write_sample(str(replacement), 2220, 2967)
    time.sleep(0.01)  # a new mtime: the origin's ETag changes
    shutil.copy(replacement, folder / (SLIDE + ".tmp"))
    os.replace(folder / (SLIDE + ".tmp"), folder / SLIDE)
    new_reference = create_app({"WSI_STORE": f"file://{folder}", "WSI_PREFETCH": "off"})
    new_reference = new_reference.test_client()
    # Tiles never read before must come from the new object, whole; tiles a worker still has
    # cached may come from the old one, whole. Never anything else.
    for _ in range(3):
        path = fresh_tile(world)
        response, _ = get(world, path)
        assert response.status_code == 200, response.text[:300]
        assert response.content == new_reference.get("/" + path).data
    for path, before in old.items():
        response, _ = get(world, path)
        assert response.content in (before, new_reference.get("/" + path).data)
