"""`/slides` for people: `?q=` name filter over keyset pages, `delimiter=/` folders, each
entry's `kind`, and DICOM instances without an extension folded by their bytes, through a real
Flask app on a local folder and on moto's S3 server."""

import os
import re

import pytest
import responses

from helpers import testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.formats import head_probe
from wsi_blueprint.reader import listing
from wsi_blueprint.protocols.context import EXTENSION

VIPS_INSTANCE = "dicom/cmu-1-small-region-vips/level-0-frames-0-30.dcm"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "cases" / "7").mkdir(parents=True)
    (tmp_path / "cases" / "8").mkdir()
    for name in ("cases/7/Liver-A1.svs", "cases/7/liver-b2", "cases/7/report.PDF",
                 "cases/8/kidney.ndpi", "cases/Notes.txt", "top.tiff"):
        (tmp_path / name).write_bytes(b"II*\x00" + b"x" * 60)
    (tmp_path / "cases" / "7" / "empty.svs").write_bytes(b"")
    return tmp_path


@pytest.fixture
def client(folder):
    return create_app({"WSI_STORE": f"file://{folder}"}).test_client()


def ids(answer) -> list:
    return [entry["id"] for entry in answer["slides"]]


def test_flat_listing_gives_each_entry_a_kind(client):
    kinds = {e["id"]: e["kind"] for e in client.get("/slides").json["slides"]}
    assert kinds == {"cases/7/Liver-A1.svs": "slide", "cases/7/empty.svs": "other",
                     "cases/7/liver-b2": "slide", "cases/7/report.PDF": "other",
                     "cases/8/kidney.ndpi": "slide", "cases/Notes.txt": "other",
                     "top.tiff": "slide"}


def test_delimiter_lists_folders_as_entries(client):
    top = client.get("/slides?delimiter=/").json
    assert top["slides"] == [
        {"id": "cases/", "size": None, "modified": None, "kind": "folder"},
        {"id": "top.tiff", "size": 64, "modified": top["slides"][1]["modified"],
         "kind": "slide"}]
    assert ids(client.get("/slides?prefix=cases/&delimiter=/").json) == [
        "cases/7/", "cases/8/", "cases/Notes.txt"]
    # A folder cursor resumes after the folder, not inside it.
    page = client.get("/slides?prefix=cases/&delimiter=/&limit=1").json
    assert ids(page) == ["cases/7/"] and page["next_cursor"] == "cases/7/"
    rest = client.get(f"/slides?prefix=cases/&delimiter=/&cursor={page['next_cursor']}").json
    assert ids(rest) == ["cases/8/", "cases/Notes.txt"] and rest["next_cursor"] is None


def test_q_filters_names_case_insensitively(client):
    assert ids(client.get("/slides?q=LIVER").json) == ["cases/7/Liver-A1.svs",
                                                       "cases/7/liver-b2"]
    assert ids(client.get("/slides?q=liver&limit=1").json) == ["cases/7/Liver-A1.svs"]
    # The name below the prefix is what is matched: "cases" is in every id but not below it.
    assert ids(client.get("/slides?prefix=cases/&q=cases").json) == []
    assert ids(client.get("/slides?prefix=cases/&delimiter=/&q=8").json) == ["cases/8/"]


def test_q_pages_through_the_store_within_a_bounded_scan(tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / f"s{i:02d}.svs").write_bytes(b"x")
    (tmp_path / "s29.svs").rename(tmp_path / "wanted-s29.svs")
    monkeypatch.setattr(listing, "SCAN_PAGE_SIZE", 4)
    monkeypatch.setattr(listing, "SCAN_PAGES", 2)
    client = create_app({"WSI_STORE": f"file://{tmp_path}"}).test_client()
    pages, cursor, found = 0, "", []
    while True:
        answer = client.get(f"/slides?q=WANTED&limit=5&cursor={cursor}").json
        pages += 1
        found += ids(answer)
        cursor = answer["next_cursor"]
        if cursor is None:
            break
        # A page that found nothing still says where the scan stopped (8 ids per request).
        assert ids(answer) == [] and cursor == f"s{pages * 8 - 1:02d}.svs"
    assert found == ["wanted-s29.svs"] and pages == 4
    # Once `limit` matches are in, the cursor is the last match, so none is skipped.
    first = client.get("/slides?q=s&limit=3").json
    assert ids(first) == ["s00.svs", "s01.svs", "s02.svs"] and first["next_cursor"] == "s02.svs"
    assert ids(client.get("/slides?q=s&limit=1&cursor=s02.svs").json) == ["s03.svs"]


@pytest.mark.parametrize("query", ["delimiter=,", "delimiter=%2F%2F", "q=" + "a" * 201,
                                   "q=a%0Ab", "cursor=..%2F"])
def test_bad_listing_parameters_are_400(client, query):
    response = client.get(f"/slides?{query}")
    assert response.status_code == 400
    assert response.json["error"] in ("bad_request", "invalid_slide_id")


def test_s3_listing_has_folders_kinds_and_q(s3_server, s3_bucket):
    for key in ("lab/cases/1/A.svs", "lab/cases/1/b.json", "lab/cases/2/C.svs", "lab/top.svs"):
        s3_server.put(s3_bucket, key, b"II*\x00data")
    settings = {"WSI_STORE": f"s3://{s3_bucket}/lab", "WSI_S3_ENDPOINT_URL": s3_server.endpoint}
    client = create_app(settings).test_client()
    top = client.get("/slides?delimiter=/").json["slides"]
    assert [(e["id"], e["kind"]) for e in top] == [("cases/", "folder"), ("top.svs", "slide")]
    inside = client.get("/slides?prefix=cases/1/&delimiter=/").json["slides"]
    assert [(e["id"], e["kind"]) for e in inside] == [("cases/1/A.svs", "slide"),
                                                      ("cases/1/b.json", "other")]
    assert ids(client.get("/slides?q=c.SVS").json) == ["cases/2/C.svs"]


def unnamed_instances() -> dict[str, bytes]:
    """The libvips sample's instances by names without an extension."""
    folder = os.path.dirname(testdata_path(VIPS_INSTANCE))
    return {name[:-len(".dcm")]: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


def store_requests(app) -> float:
    return app.extensions[EXTENSION]["wsi"].counters.get("store_requests")


@pytest.fixture
def unnamed_folder(tmp_path):
    """lab/HE1: a series of instances without extension; lab/raw: other files without one."""
    (tmp_path / "lab" / "HE1").mkdir(parents=True)
    (tmp_path / "lab" / "raw").mkdir()
    for name, data in unnamed_instances().items():
        (tmp_path / "lab" / "HE1" / name).write_bytes(data)
    for name in ("scan-a", "scan-b"):
        (tmp_path / "lab" / "raw" / name).write_bytes(b"x" * 500)
    return tmp_path


def test_extensionless_dicom_instances_list_once_with_one_read_per_folder(unnamed_folder):
    app = create_app({"WSI_STORE": f"file://{unnamed_folder}"})
    client = app.test_client()
    assert ids(client.get("/slides").json) == ["lab/HE1", "lab/raw/scan-a", "lab/raw/scan-b"]
    assert store_requests(app) == 2  # the first object of each folder, nothing else
    series = client.get("/slides").json["slides"][0]
    assert series["size"] == sum(map(len, unnamed_instances().values()))
    assert store_requests(app) == 2  # the second listing remembers the heads
    assert client.get("/slides/lab/HE1").json["format"] == "dicom"


def test_the_gallery_shows_an_extensionless_series_once(unnamed_folder):
    client = create_app({"WSI_STORE": f"file://{unnamed_folder}"}).test_client()
    html = client.get("/?prefix=lab/HE1/").data.decode()
    assert html.count('data-id="lab/HE1"') == 1
    assert 'data-id="lab/HE1/level-' not in html


def test_s3_lists_extensionless_instances_once_and_remembers_the_probe(s3_server, s3_bucket):
    for name, data in unnamed_instances().items():
        s3_server.put(s3_bucket, f"lab/HE1/{name}", data)
    s3_server.put(s3_bucket, "lab/raw/scan-a", b"x" * 500)
    app = create_app({"WSI_STORE": f"s3://{s3_bucket}/lab",
                      "WSI_S3_ENDPOINT_URL": s3_server.endpoint})
    client = app.test_client()
    assert ids(client.get("/slides").json) == ["HE1", "raw/scan-a"]
    assert store_requests(app) == 3  # one listing and one 132-byte read per folder
    assert app.extensions[EXTENSION]["wsi"].counters.get("store_bytes") \
        == 2 * head_probe.HEAD_BYTES
    assert ids(client.get("/slides").json) == ["HE1", "raw/scan-a"]
    assert store_requests(app) == 4  # the listing alone


def test_a_store_error_while_probing_lists_the_object_as_it_is(s3_server, s3_bucket):
    """The store refuses the ranged read (injected): the listing still answers, and the next
    one, the store healed, reads the head again."""
    s3_server.put(s3_bucket, "lab/HE1/one", next(iter(unnamed_instances().values())))
    app = create_app({"WSI_STORE": f"s3://{s3_bucket}/lab",
                      "WSI_S3_ENDPOINT_URL": s3_server.endpoint})
    client = app.test_client()
    with responses.RequestsMock() as refusing:
        refusing.add(responses.GET, re.compile(".*/HE1/one.*"), status=403)
        response = client.get("/slides")
        assert refusing.calls  # the probe met the fault
    assert response.status_code == 200
    assert ids(response.json) == ["HE1/one"]
    assert ids(client.get("/slides").json) == ["HE1"]


def test_one_listing_probes_a_bounded_number_of_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(head_probe, "MAX_PROBES", 2)
    instance = next(iter(unnamed_instances().values()))
    for folder in ("s1", "s2", "s3"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "i").write_bytes(instance)
    app = create_app({"WSI_STORE": f"file://{tmp_path}"})
    client = app.test_client()
    assert ids(client.get("/slides").json) == ["s1", "s2", "s3/i"]
    assert store_requests(app) == 2
    # The next listing finds the two heads it remembers and may read the third.
    assert ids(client.get("/slides").json) == ["s1", "s2", "s3"]
