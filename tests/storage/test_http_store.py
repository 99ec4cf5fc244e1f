"""The http(s):// store and the host callback store against a real HTTP server on loopback."""

import pytest

from helpers import RangeFileServer, make_settings
from wsi_blueprint.errors import InvalidSlideId, NotImplementedByStore, SlideNotFound, StoreError
from wsi_blueprint.storage import open_store

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def served(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a b.svs").write_bytes(DATA)
    (tmp_path / "big.svs").write_bytes(DATA * 16)
    server = RangeFileServer(str(tmp_path))
    yield server
    server.stop()


def test_reads_ranges_from_a_base_url(served, counters):
    store = open_store(make_settings(store=served.url, block_size=4096), counters)
    reader = store.open("cases/a b.svs")
    assert reader.size == len(DATA)
    assert reader.head == DATA[:4096]
    assert reader.read(5000, 3000) == DATA[5000:8000]
    assert counters.get("store_requests") == 2


def test_http_store_cannot_list(served, counters):
    store = open_store(make_settings(store=served.url), counters)
    with pytest.raises(NotImplementedByStore) as err:
        store.list()
    assert err.value.status == 501


def test_traversal_refused_before_any_request(served, counters):
    store = open_store(make_settings(store=served.url), counters)
    for bad in ("../x", "a/../../b", "/abs"):
        with pytest.raises(InvalidSlideId):
            store.open(bad)
    assert counters.get("store_requests") == 0


def test_server_ignoring_range_is_refused_without_downloading(tmp_path, counters):
    (tmp_path / "big.svs").write_bytes(DATA * 32)  # 32 MiB
    server = RangeFileServer(str(tmp_path), honour_range=False)
    try:
        store = open_store(make_settings(store=server.url, block_size=4096), counters)
        with pytest.raises(StoreError, match="Range"):
            store.open("big.svs")
        assert counters.get("store_bytes") == 0
        assert server.sent < 8 * 1024 * 1024  # only what socket buffers took before close
    finally:
        server.stop()


def test_callback_store_reads_what_the_host_resolves(served, counters):
    urls = {"case-1/slide": served.url + "cases/a%20b.svs"}
    store = open_store(make_settings(), counters, resolve=urls.get)
    assert store.open("case-1/slide").read(0, 4) == DATA[:4]
    with pytest.raises(SlideNotFound):
        store.open("unknown")
    with pytest.raises(InvalidSlideId):
        store.open("../case-1/slide")
    with pytest.raises(NotImplementedByStore):
        store.list()


def test_a_callback_store_head_is_one_request_of_just_its_bytes(served, counters):
    """What a host lister's listing reads to recognise an object: not an opening block."""
    store = open_store(make_settings(), counters,
                       resolve={"s": served.url + "cases/a%20b.svs"}.get)
    assert store.read_head("s", 132) == DATA[:132]
    assert (counters.get("store_requests"), counters.get("store_bytes")) == (1, 132)
