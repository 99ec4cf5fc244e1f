"""The catalog: what objects are, and a listing that shows a multi-object slide once."""

from wsi_blueprint.formats import catalog


def entry(slide_id, size=10, modified="2026-01-01T00:00:00+00:00"):
    return {"id": slide_id, "size": size, "modified": modified,
            "kind": catalog.kind_of(slide_id, size)}


def test_dicom_instances_fold_into_one_entry_for_their_series_folder():
    entries = [entry("a/s1/1.dcm", 5), entry("a/s1/2.DCM", 7, "2026-02-01T00:00:00+00:00"),
               entry("a/x.svs"), entry("a/s1/notes.txt"), entry("root.dcm"),
               {"id": "a/s2/", "size": None, "modified": None, "kind": "folder"}]
    folded = catalog.fold(entries)
    assert [e["id"] for e in folded] == ["a/s1", "a/s1/notes.txt", "a/s2/", "a/x.svs",
                                         "root.dcm"]
    series = folded[0]
    assert series == {"id": "a/s1", "size": 12, "modified": "2026-02-01T00:00:00+00:00",
                      "kind": "slide"}


def test_names_no_slide_format_uses_are_other_and_empty_objects_too():
    assert catalog.kind_of("a/b.svs", 10) == "slide"
    assert catalog.kind_of("a/b", 10) == "slide"
    assert catalog.kind_of("a/b.json", 10) == "other"
    assert catalog.kind_of("a/b.svs", 0) == "other"
    assert catalog.kind_of("a/", None) == "folder"


def test_an_object_opened_by_its_own_id_gives_the_members_its_version():
    from wsi_blueprint.formats.members import Members
    from wsi_blueprint.storage import ObjectInfo
    listed = ObjectInfo("s/b.dcm", 10, "2026-01-01T00:00:00+00:00")
    members = Members("dicom", "s", (ObjectInfo("s/a.dcm", 10, None), listed))
    first, second = members.versioned("s/a.dcm", '"e1"'), members.versioned("s/a.dcm", '"e2"')
    assert first.digest() != second.digest() != members.digest()
    assert first.objects[1] is listed  # a listed version stays


def test_objects_without_a_slide_extension_fold_when_their_folder_starts_as_dicom():
    dicom_head = b"\0" * 128 + b"DICM"
    heads = {"a/s1/1.2.3": dicom_head, "a/raw/x": b"\0" * 132}
    asked = []

    def head(listed):
        asked.append(listed["id"])
        return heads.get(listed["id"])

    entries = [entry("a/s1/1.2.3", 500), entry("a/s1/1.2.4", 700), entry("a/raw/x", 500),
               entry("a/raw/y", 500), entry("a/small/z", 100), entry("a/tif/b.svs", 500),
               entry("root", 500), entry("a/gone/q", 500)]
    folded = catalog.fold(entries, head)
    assert [e["id"] for e in folded] == ["a/gone/q", "a/raw/x", "a/raw/y", "a/s1",
                                         "a/small/z", "a/tif/b.svs", "root"]
    assert folded[3]["size"] == 1200
    # One head per folder of such objects; none for a slide name, a tiny object or the root.
    assert asked == ["a/s1/1.2.3", "a/raw/x", "a/gone/q"]
    assert [e["id"] for e in catalog.fold(entries)] == sorted(e["id"] for e in entries)
