"""Opening slides by id: metadata parsed and versions asked once per cluster, replaced objects
reopened."""

import time

import pytest

from helpers import eventually, make_settings, testdata_path
from wsi_blueprint import timing
from wsi_blueprint.errors import ObjectChanged, SlideNotFound
from wsi_blueprint.state import WSIState


@pytest.fixture
def cmu(s3_server, s3_bucket):
    data = open(testdata_path("CMU-1-Small-Region.svs"), "rb").read()
    s3_server.put(s3_bucket, "cases/1/cmu", data)  # no extension: recognised from its bytes
    return data


def s3_settings(s3_server, bucket, **extra):
    return make_settings(store=f"s3://{bucket}", s3_endpoint_url=s3_server.endpoint, **extra)


def test_open_parses_once_and_serves_tiles_without_more_requests(s3_server, s3_bucket, cmu):
    state = WSIState.build(s3_settings(s3_server, s3_bucket))
    slide = state.library.open("cases/1/cmu")
    assert (slide.index.width, slide.index.height) == (2220, 2967)
    slide.read_tiles(0, [(0, 0)])
    requests = state.counters.get("store_requests")
    assert state.library.open("cases/1/cmu") is slide
    state.library.open("cases/1/cmu").read_tiles(0, [(0, 0)])
    assert state.counters.get("store_requests") == requests
    assert state.counters.get("slide_parses") == 1


def test_a_second_worker_opens_the_slide_without_a_store_request(s3_server, s3_bucket, cmu,
                                                                  memcached):
    settings = s3_settings(s3_server, s3_bucket, memcached=memcached.address, block_size="64K")
    first = WSIState.build(settings).library.open("cases/1/cmu")
    second = WSIState.build(settings)
    slide = second.library.open("cases/1/cmu")
    assert second.counters.get("slide_parses") == 0
    assert second.counters.get("store_requests") == 0  # the version the first one saw
    assert slide.blocks.namespace == first.blocks.namespace
    cols, rows = slide.tile_grid(0)
    tile = slide.read_tiles(0, [(cols // 2, rows // 2)])  # not cached: one read, at that version
    assert second.counters.get("store_requests") == 1
    assert tile == first.read_tiles(0, [(cols // 2, rows // 2)])


def test_a_version_seen_longer_ago_than_revalidate_after_is_asked_again(s3_server, s3_bucket,
                                                                        cmu, memcached):
    settings = s3_settings(s3_server, s3_bucket, memcached=memcached.address)
    WSIState.build(settings).library.open("cases/1/cmu")
    second = WSIState.build(settings)
    second.library.revalidate_after = 0.0
    clock = timing.begin()
    second.library.open("cases/1/cmu")
    assert second.counters.get("store_requests") == 1  # its own opening read,
    assert "store" in timing.end(clock)  # which Server-Timing counts as a store wait
    assert second.counters.get("slide_parses") == 0


def test_a_worker_trusting_a_seen_version_meets_a_replaced_object_and_reopens(
        s3_server, s3_bucket, cmu, memcached):
    settings = s3_settings(s3_server, s3_bucket, memcached=memcached.address, block_size="64K")
    WSIState.build(settings).library.open("cases/1/cmu")
    s3_server.put(s3_bucket, "cases/1/cmu", open(testdata_path("small.svs"), "rb").read())

    second = WSIState.build(settings)
    slide = second.library.open("cases/1/cmu")  # the version the first saw, as its own would be
    assert slide.index.width == 2220
    cols, rows = slide.tile_grid(0)
    with pytest.raises(ObjectChanged):
        slide.read_tiles(0, [(cols // 2, rows // 2)])  # not cached: meets the new ETag
    assert second.library.reopen("cases/1/cmu").index.width == 16  # small.svs
    third = WSIState.build(settings)  # what the reopening saw is shared in its turn
    assert third.library.open("cases/1/cmu").index.width == 16
    assert third.counters.get("store_requests") == 0


def test_a_replaced_object_is_reopened_not_mixed(s3_server, s3_bucket, cmu):
    state = WSIState.build(s3_settings(s3_server, s3_bucket, block_size="64K"))
    state.library.open("cases/1/cmu")
    s3_server.put(s3_bucket, "cases/1/cmu", open(testdata_path("small.svs"), "rb").read())

    slide = state.library.open("cases/1/cmu")  # the open version, trusted for a while
    cols, rows = slide.tile_grid(0)
    with pytest.raises(ObjectChanged):
        slide.read_tiles(0, [(cols // 2, rows // 2)])  # not cached: meets the new ETag
    assert state.library.reopen("cases/1/cmu").index.width == 16  # small.svs
    assert state.counters.get("slide_reopens") == 1


def test_a_slide_due_for_revalidation_is_served_while_opened_again_in_the_background(
        s3_server, s3_bucket, cmu):
    state = WSIState.build(s3_settings(s3_server, s3_bucket))
    library = state.library
    library.revalidate_after = 0.3
    slide = library.open("cases/1/cmu")
    s3_server.put(s3_bucket, "cases/1/cmu", open(testdata_path("small.svs"), "rb").read())
    time.sleep(0.35)
    assert library.open("cases/1/cmu") is slide  # at once: no request waits on the store
    assert eventually(lambda: library.open_already("cases/1/cmu") is not slide, 10)
    renewed = library.open("cases/1/cmu")
    assert renewed.index.width == 16  # the replaced object's version, found in the background
    assert state.counters.get("slide_reopens") == 0


def test_a_slide_gone_from_the_store_is_forgotten_by_its_revalidation(s3_server, s3_bucket,
                                                                     cmu):
    library = WSIState.build(s3_settings(s3_server, s3_bucket)).library
    library.revalidate_after = 0.3
    slide = library.open("cases/1/cmu")
    s3_server.client.delete_object(Bucket=s3_bucket, Key="cases/1/cmu")
    time.sleep(0.35)
    assert library.open_already("cases/1/cmu") is slide
    assert eventually(lambda: library.open_already("cases/1/cmu") is None, 10)
    with pytest.raises(SlideNotFound):
        library.open("cases/1/cmu")


def test_a_slide_twice_revalidate_after_old_is_opened_before_it_is_served(s3_server, s3_bucket,
                                                                         cmu):
    state = WSIState.build(s3_settings(s3_server, s3_bucket))
    state.library.revalidate_after = 0.2
    slide = state.library.open("cases/1/cmu")
    time.sleep(0.45)
    assert state.library.open_already("cases/1/cmu") is None
    requests = state.counters.get("store_requests")
    assert state.library.open("cases/1/cmu") is not slide
    assert state.counters.get("store_requests") == requests + 1  # its opening read, waited on


@pytest.mark.parametrize("record", [b"not json", b'{"version": [1]}', b'{"seen": "x"}',
                                    b'{"members": [], "seen": 1}'])
def test_a_version_record_it_cannot_read_is_asked_of_the_store(s3_server, s3_bucket, cmu,
                                                              record):
    state = WSIState.build(s3_settings(s3_server, s3_bucket))
    state.caches.versions.set(f"{state.store.name}|cases/1/cmu", record)
    assert state.library.open("cases/1/cmu").index.width == 2220
    assert state.counters.get("store_requests") >= 1  # its own opening read
