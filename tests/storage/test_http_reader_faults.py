"""Faults injected under the range reader with `responses`: retries, refusals, replaced objects."""

import re

import pytest
import requests
import responses

from wsi_blueprint.counters import Counters
from wsi_blueprint.errors import (ObjectChanged, SlideNotFound, StoreError, StoreTimeout,
                                  StoreUnavailable)
from wsi_blueprint.storage.http_reader import HTTPRangeReader, ReaderOptions, new_session

URL = "http://store.invalid/slide.svs"
DATA = bytes(range(256)) * 64  # 16 KiB
ETAG = '"v1"'
OPTIONS = ReaderOptions(retries=2, backoff_base=0.001, probe_bytes=1024)


def partial(start, end, etag=ETAG, body=None, total=len(DATA)):
    body = DATA[start:end + 1] if body is None else body
    return (206, {"Content-Range": f"bytes {start}-{end}/{total}", "ETag": etag}, body)


def ranged(request):
    first, last = request.headers["Range"].removeprefix("bytes=").split("-")
    return partial(int(first), min(int(last), len(DATA) - 1))


def open_reader(counters=None, url=URL):
    counters = counters or Counters()
    return HTTPRangeReader("slide.svs", lambda refresh: url, new_session(4), OPTIONS, counters)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def script(mocked, *answers):
    """Answer successive GETs with the given callables or (status, headers, body) tuples;
    the last answer repeats."""
    answers = list(answers)

    def reply(request):
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    mocked.add_callback(responses.GET, URL, callback=reply)


def test_open_records_size_version_and_head(mocked):
    script(mocked, ranged)
    reader = open_reader()
    assert (reader.size, reader.etag, reader.head) == (len(DATA), ETAG, DATA[:1024])
    assert mocked.calls[0].request.headers["Range"] == "bytes=0-1023"


def test_every_read_carries_if_match(mocked):
    script(mocked, ranged)
    reader = open_reader()
    assert reader.read(2000, 100) == DATA[2000:2100]
    assert mocked.calls[1].request.headers["If-Match"] == ETAG
    assert mocked.calls[1].request.headers["Range"] == "bytes=2000-2099"


def test_5xx_then_success_is_retried(mocked):
    counters = Counters()
    script(mocked, ranged, (503, {}, b"slow down"), (500, {}, b""), ranged)
    reader = open_reader(counters)
    assert reader.read(100, 10) == DATA[100:110]
    assert counters.get("store_retries") == 2


def test_persistent_5xx_ends_in_a_clean_502(mocked):
    script(mocked, ranged, (500, {}, b""))
    reader = open_reader()
    with pytest.raises(StoreError) as err:
        reader.read(0, 10)
    assert err.value.status == 502
    assert len(mocked.calls) == 1 + 1 + OPTIONS.retries


def test_connection_errors_and_timeouts_map_to_503_and_504(mocked):
    script(mocked, ranged, requests.ConnectionError("reset"))
    reader = open_reader()
    with pytest.raises(StoreUnavailable) as err:
        reader.read(0, 10)
    assert err.value.status == 503
    mocked.replace(responses.GET, URL, body=requests.ReadTimeout("stall"))
    with pytest.raises(StoreTimeout) as err:
        reader.read(0, 10)
    assert err.value.status == 504


def test_a_200_with_the_whole_object_is_refused_unread(mocked):
    counters = Counters()
    script(mocked, ranged, (200, {"Content-Length": str(len(DATA)), "ETag": ETAG}, DATA))
    reader = open_reader(counters)
    before = counters.get("store_bytes")
    with pytest.raises(StoreError, match="Range"):
        reader.read(4096, 10)
    assert counters.get("store_bytes") == before


def test_truncated_body_is_retried_for_the_bytes_still_due(mocked):
    script(mocked, ranged, partial(100, 199, body=DATA[100:150]), ranged)
    assert open_reader().read(100, 100) == DATA[100:200]
    assert [c.request.headers["Range"] for c in mocked.calls[1:]] == [
        "bytes=100-199", "bytes=150-199"]
    assert all(c.request.headers["If-Match"] == ETAG for c in mocked.calls[1:])


def test_a_stream_gives_what_came_before_a_break_and_then_the_rest(mocked):
    script(mocked, ranged, partial(0, 9999, body=DATA[:6000]), ranged)
    reader = open_reader()
    pieces = list(reader.stream(0, 10_000))
    assert b"".join(pieces) == DATA[:10_000] and len(pieces) >= 2
    assert mocked.calls[-1].request.headers["Range"] == "bytes=6000-9999"


def test_wrong_range_is_retried(mocked):
    script(mocked, ranged, partial(0, 99), ranged)
    assert open_reader().read(100, 100) == DATA[100:200]


@pytest.mark.parametrize("answer", [
    (412, {}, b"precondition failed"),
    partial(100, 109, etag='"v2"'),
    partial(100, 109, total=len(DATA) + 1),
])
def test_replaced_object_is_detected(mocked, answer):
    script(mocked, ranged, answer)
    with pytest.raises(ObjectChanged):
        open_reader().read(100, 10)


def test_expired_presigned_url_is_signed_again(mocked):
    signed = []

    def url(refresh):
        signed.append(refresh)
        return URL + ("?sig=new" if refresh else "?sig=old")

    seen = []

    def reply(request):
        seen.append(request.url)
        if "sig=old" in request.url and len(seen) > 1:  # the URL expired after the open
            return (403, {}, b"<Error><Code>AccessDenied</Code>Request has expired</Error>")
        return ranged(request)

    mocked.add_callback(responses.GET, re.compile(re.escape(URL) + r".*"), callback=reply)
    counters = Counters()
    reader = HTTPRangeReader("slide.svs", url, new_session(4), OPTIONS, counters)
    assert reader.read(10, 10) == DATA[10:20]
    assert signed == [False, False, True] and counters.get("store_resigns") == 1


def test_refusal_after_a_fresh_signature_is_an_error(mocked):
    script(mocked, ranged, (403, {}, b"denied"))
    with pytest.raises(StoreError, match="refused access"):
        open_reader().read(10, 10)


def test_missing_object_is_404(mocked):
    script(mocked, (404, {}, b""))
    with pytest.raises(SlideNotFound):
        open_reader()
