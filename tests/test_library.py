"""Opening slides by id: metadata parsed and versions asked once per cluster, replaced objects
reopened."""

import pytest

from helpers import make_settings, testdata_path
from wsi_blueprint import timing
from wsi_blueprint.errors import ObjectChanged
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
