import os

import pytest

from helpers import make_settings
from wsi_blueprint.errors import CorruptSlide, InvalidSlideId, SlideNotFound
from wsi_blueprint.storage import open_store


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "cases" / "42").mkdir(parents=True)
    (tmp_path / "cases" / "42" / "A1.svs").write_bytes(b"A" * 1000)
    (tmp_path / "cases" / "42" / "B1").write_bytes(b"B" * 10)
    (tmp_path / "z.tiff").write_bytes(b"Z" * 5)
    (tmp_path / ".case.json").write_text("{}")
    return tmp_path


@pytest.fixture
def store(folder, counters):
    return open_store(make_settings(store=f"file://{folder}"), counters)


def test_lists_ids_sorted_with_sizes_and_hides_dotfiles(store):
    page = store.list()
    assert [(s.id, s.size) for s in page.slides] == [
        ("cases/42/A1.svs", 1000), ("cases/42/B1", 10), ("z.tiff", 5)]
    assert page.next_cursor is None
    assert all(s.modified.endswith("+00:00") for s in page.slides)


def test_pagination_walks_every_id_once(store):
    seen, cursor = [], None
    while True:
        page = store.list(limit=2, cursor=cursor)
        seen += [s.id for s in page.slides]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["cases/42/A1.svs", "cases/42/B1", "z.tiff"]


def test_prefix_filter(store):
    assert [s.id for s in store.list(prefix="cases/").slides] == ["cases/42/A1.svs", "cases/42/B1"]


def test_reads_exact_ranges_and_counts_them(store, counters):
    reader = store.open("cases/42/A1.svs")
    assert reader.size == 1000
    assert reader.read(10, 5) == b"AAAAA"
    assert counters.get("store_requests") == 1 and counters.get("store_bytes") == 5
    with pytest.raises(CorruptSlide):
        reader.read(998, 5)


def test_a_head_is_one_read_and_no_more_than_the_object(store, counters):
    assert store.read_head("cases/42/A1.svs", 132) == b"A" * 132
    assert store.read_head("cases/42/B1", 132) == b"B" * 10
    assert counters.get("store_requests") == 2 and counters.get("store_bytes") == 142


def test_etag_changes_when_the_file_changes(store, folder):
    before = store.open("z.tiff").etag
    os.utime(folder / "z.tiff", ns=(1, 1))
    assert store.open("z.tiff").etag != before


@pytest.mark.parametrize("slide_id", [
    "../etc/passwd", "cases/../../x", "/etc/passwd", "cases//42", "a\\b", "a\x00b", "./z.tiff",
    "x" * 2000])
def test_traversal_and_malformed_ids_are_refused(store, slide_id):
    with pytest.raises(InvalidSlideId):
        store.open(slide_id)


def test_symlink_out_of_the_root_is_refused(store, folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.svs"
    outside.write_bytes(b"secret")
    os.symlink(outside, folder / "link.svs")
    with pytest.raises(SlideNotFound):
        store.open("link.svs")
    assert "link.svs" not in [s.id for s in store.list().slides]


def test_missing_slide_and_directories_are_not_found(store):
    for slide_id in ("nope.svs", "cases/42"):
        with pytest.raises(SlideNotFound):
            store.open(slide_id)


def test_delimiter_lists_one_level_with_folders(store, folder):
    (folder / "cases" / "42" / ".hidden").mkdir()
    page = store.list(delimiter="/")
    assert page.folders == ["cases/"] and [s.id for s in page.slides] == ["z.tiff"]
    page = store.list(prefix="cases/42/", delimiter="/")
    assert page.folders == [] and [s.id for s in page.slides] == ["cases/42/A1.svs",
                                                                  "cases/42/B1"]
    assert store.list(prefix="cases/4", delimiter="/").folders == ["cases/42/"]
    assert store.list(prefix="nowhere/", delimiter="/") == store.list(prefix="x", limit=1,
                                                                      delimiter="/")


def test_delimiter_pages_through_folders_and_files_in_key_order(store, folder):
    (folder / "cases" / "43").mkdir()
    (folder / "cases" / "42.txt").write_text("notes")
    seen, cursor = [], None
    while True:
        page = store.list(prefix="cases/", limit=1, cursor=cursor, delimiter="/")
        seen += page.folders + [s.id for s in page.slides]
        cursor = page.next_cursor
        if cursor is None:
            break
    # '.' sorts before '/': the file comes before the folder of the same stem, as in S3.
    assert seen == ["cases/42.txt", "cases/42/", "cases/43/"]


def test_delimiter_never_leaves_the_root(store):
    assert store.list(prefix="../", delimiter="/") == store.list(prefix="nowhere/",
                                                                 delimiter="/")


def test_flat_listing_is_in_key_order_across_folders(tmp_path, counters):
    for key in ("a.txt", "a/b", "a/c/d", "a0", "a-", "b/.hidden/x", "b/y"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"x")
    store = open_store(make_settings(store=f"file://{tmp_path}"), counters)
    expected = ["a-", "a.txt", "a/b", "a/c/d", "a0", "b/y"]  # '-' < '.' < '/' < '0'
    assert [s.id for s in store.list().slides] == expected
    seen, cursor = [], None
    for _ in range(len(expected) + 1):
        page = store.list(limit=1, cursor=cursor)
        seen += [s.id for s in page.slides]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert [s.id for s in store.list(prefix="a/c").slides] == ["a/c/d"]
    assert [s.id for s in store.list(cursor="a/b").slides] == ["a/c/d", "a0", "b/y"]
