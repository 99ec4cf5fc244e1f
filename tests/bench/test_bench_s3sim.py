"""The simulated S3: S3 semantics over local files, with latency, bandwidth and counters."""

import time

import botocore.session
import requests

from helpers import make_settings
from wsi_blueprint.bench.s3sim import SimulatedS3, parse_range
from wsi_blueprint.state import WSIState

DATA = bytes(range(256)) * 4096
URL_KEY = "/slides/plain/bytes.bin"


def test_parse_range():
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=95-200", 100) == (95, 99)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    assert parse_range("bytes=5-1", 100) is None      # invalid: ignored, whole object
    assert parse_range("bytes=0-1,5-6", 100) is None  # S3 serves no multipart ranges
    assert parse_range(None, 100) is None


def test_ranged_get_head_and_presigned_query(sim_store):
    url = sim_store.endpoint + URL_KEY + "?X-Amz-Signature=whatever&X-Amz-Expires=60"
    r = requests.get(url, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(DATA)}"
    assert r.content == DATA[1000:2000]
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert requests.get(url, headers={"Range": "bytes=-5"}).content == DATA[-5:]
    head = requests.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(DATA)
    assert head.headers["ETag"] == etag and head.headers["Accept-Ranges"] == "bytes"
    past = requests.get(url, headers={"Range": f"bytes={len(DATA)}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(DATA)}"
    whole = requests.get(url)
    assert whole.status_code == 200 and whole.content == DATA
    missing = requests.get(sim_store.endpoint + "/slides/nope")
    assert missing.status_code == 404 and b"NoSuchKey" in missing.content
    assert requests.get(sim_store.endpoint + "/nobucket/x").status_code == 404


def test_if_match_and_if_none_match(sim_store):
    url = sim_store.endpoint + URL_KEY
    etag = requests.head(url).headers["ETag"]
    same = requests.get(url, headers={"Range": "bytes=0-3", "If-Match": etag})
    assert same.status_code == 206 and same.content == DATA[:4]
    other = requests.get(url, headers={"Range": "bytes=0-3", "If-Match": '"other"'})
    assert other.status_code == 412 and b"PreconditionFailed" in other.content
    assert requests.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_first_byte_latency_bandwidth_and_counters(store_root):
    with SimulatedS3(store_root, latency_ms=60, bandwidth_mbps=4) as store:
        url = store.endpoint + URL_KEY
        store.reset()
        began = time.perf_counter()
        requests.get(url, headers={"Range": "bytes=0-99"})
        small = time.perf_counter() - began
        began = time.perf_counter()
        body = requests.get(url, headers={"Range": "bytes=0-399999"}).content  # 0.4 MB at 4 MB/s
        large = time.perf_counter() - began
        stats = store.stats()
        assert 0.06 <= small < 0.5
        assert large >= 0.06 + 0.09 and len(body) == 400000
        assert stats["requests"] == 2 and stats["bytes"] == 400100
        assert stats["kinds"] == {"get_object": 2}
        store.configure(latency_ms=0, bandwidth_mbps=0)

        def timed() -> float:
            began = time.perf_counter()
            requests.get(url, headers={"Range": "bytes=0-99"})
            return time.perf_counter() - began
        # The 60 ms are gone: the quickest of three (a loaded machine delays some) is quicker.
        assert min(timed() for _ in range(3)) < 0.06
        store.reset()
        assert store.stats()["requests"] == 0


def test_botocore_lists_and_presigns(sim_store):
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=sim_store.endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y")
    keys = [c["Key"] for c in client.list_objects_v2(Bucket="slides")["Contents"]]
    assert keys == sorted(keys) and "case-t/A1.svs" in keys and "plain/bytes.bin" in keys
    page = client.list_objects_v2(Bucket="slides", MaxKeys=1, Prefix="case-t/")
    assert page["IsTruncated"] and [c["Key"] for c in page["Contents"]] == ["case-t/A1.svs"]
    rest = client.list_objects_v2(Bucket="slides", Prefix="case-t/",
                                  ContinuationToken=page["NextContinuationToken"])
    assert [c["Key"] for c in rest["Contents"]] == ["case-t/B1.svs"]
    folders = client.list_objects_v2(Bucket="slides", Delimiter="/")
    assert [p["Prefix"] for p in folders["CommonPrefixes"]] == ["case-t/", "plain/"]
    url = client.generate_presigned_url("get_object", Params={"Bucket": "slides",
                                                              "Key": "plain/bytes.bin"})
    assert requests.get(url, headers={"Range": "bytes=0-9"}).content == DATA[:10]


def test_the_package_s3_store_reads_through_it(sim_store, small_slides, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench")
    state = WSIState.build(make_settings(store="s3://slides", s3_endpoint_url=sim_store.endpoint))
    listed = [s.id for s in state.store.list(prefix="case-t/").slides]
    assert listed == ["case-t/A1.svs", "case-t/B1.svs"]
    slide = state.library.open("case-t/A1.svs")
    assert (slide.index.width, slide.index.height) == (4000, 3000)
    assert slide.read_tiles(0, [(3, 2)])[0]
    assert state.counters.get("store_requests") >= 2
