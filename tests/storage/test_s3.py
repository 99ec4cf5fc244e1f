"""The s3:// store against moto's S3 server on loopback: listing, presigning, range reads."""

import pytest

from helpers import make_settings
from wsi_blueprint.errors import InvalidSlideId, ObjectChanged, SlideNotFound
from wsi_blueprint.storage import open_store

DATA = bytes(range(256)) * 2048  # 512 KiB


@pytest.fixture
def bucket(s3_server, s3_bucket):
    for key in ("root/cases/1/a.svs", "root/cases/1/b.svs", "root/cases/2/c.svs",
                "root/cases/1/.case.json", "elsewhere/x.svs"):
        s3_server.put(s3_bucket, key, DATA)
    return s3_bucket


def s3_store(s3_server, bucket, counters, path="root", **extra):
    settings = make_settings(store=f"s3://{bucket}/{path}", s3_endpoint_url=s3_server.endpoint,
                             block_size=65536, **extra)
    return open_store(settings, counters)


def test_lists_ids_relative_to_the_prefix(s3_server, bucket, counters):
    page = s3_store(s3_server, bucket, counters).list()
    assert [s.id for s in page.slides] == ["cases/1/a.svs", "cases/1/b.svs", "cases/2/c.svs"]
    assert page.slides[0].size == len(DATA) and page.next_cursor is None


def test_pagination_and_prefix(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters)
    first = store.list(limit=2)
    assert len(first.slides) == 2 and first.next_cursor
    second = store.list(limit=2, cursor=first.next_cursor)
    assert [s.id for s in second.slides] == ["cases/2/c.svs"] and second.next_cursor is None
    assert [s.id for s in store.list(prefix="cases/2").slides] == ["cases/2/c.svs"]


def test_cursor_is_the_last_id_so_pages_survive_new_objects(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters)
    first = store.list(limit=1)
    assert first.next_cursor == "cases/1/a.svs"
    s3_server.put(bucket, "root/cases/0/new.svs", DATA)
    assert [s.id for s in store.list(limit=1, cursor=first.next_cursor).slides] == [
        "cases/1/b.svs"]


def test_reads_through_presigned_urls_reused_across_opens(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters)
    reader = store.open("cases/1/a.svs")
    assert reader.size == len(DATA) and reader.head == DATA[:65536]
    assert reader.read(100_000, 5000) == DATA[100_000:105_000]
    store.open("cases/1/a.svs")
    assert counters.get("store_presigns") == 1
    assert counters.get("store_requests") == 3


def test_presigned_url_is_renewed_near_expiry(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters, presign_expires=5)
    first = store.presigned_url("cases/1/a.svs")
    assert store.presigned_url("cases/1/a.svs") == first
    store._signed["root/cases/1/a.svs"] = (first, 0.0)  # as if its lifetime had run out
    store.presigned_url("cases/1/a.svs")
    assert counters.get("store_presigns") == 2


def test_missing_object_and_traversal(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters)
    with pytest.raises(SlideNotFound):
        store.open("cases/9/none.svs")
    for bad in ("../elsewhere/x.svs", "cases/../../elsewhere/x.svs", "/x.svs", "a\\b"):
        with pytest.raises(InvalidSlideId):
            store.open(bad)


def test_object_replaced_while_open_is_detected(s3_server, bucket, counters):
    store = s3_store(s3_server, bucket, counters)
    reader = store.open("cases/2/c.svs")
    s3_server.put(bucket, "root/cases/2/c.svs", DATA[::-1])
    with pytest.raises(ObjectChanged):
        reader.read(70_000, 100)
    assert store.open("cases/2/c.svs").read(70_000, 100) == DATA[::-1][70_000:70_100]


def test_delimiter_lists_folders_and_pages_past_them(s3_server, bucket, counters):
    s3_server.put(bucket, "root/cases/readme.txt", b"notes")
    s3_server.put(bucket, "root/cases/.thumbs/x.jpg", b"x")
    store = s3_store(s3_server, bucket, counters)
    top = store.list(delimiter="/")
    assert top.folders == ["cases/"] and top.slides == [] and top.next_cursor is None
    seen, cursor = [], None
    for _ in range(10):
        page = store.list(prefix="cases/", limit=1, cursor=cursor, delimiter="/")
        seen += page.folders + [s.id for s in page.slides]
        cursor = page.next_cursor
        if cursor is None:
            break
    # After the folder "cases/1/" the next page starts past every key inside it.
    assert seen == ["cases/1/", "cases/2/", "cases/readme.txt"]
    inside = store.list(prefix="cases/1/", delimiter="/")
    assert [s.id for s in inside.slides] == ["cases/1/a.svs", "cases/1/b.svs"]
    assert inside.folders == []
