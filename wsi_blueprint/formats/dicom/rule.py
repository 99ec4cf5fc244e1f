"""The DICOM rule of the catalog: a series is the folder of its instances.

`cases/42/HE1` (the folder) and `cases/42/HE1/<any instance>` open the same series; a folder
holding several series opens one of them by `cases/42/HE1@<SeriesInstanceUID>` (the folder
alone opens the first by UID). An instance at the store's root is a series of its own, and so
is any instance in a store that cannot list (an HTTP base URL). A listing folds instances
into one entry for their folder: those named `*.dcm`, and the objects without a slide
extension of a folder whose first such object starts as DICOM does (one head read per folder).
"""

import posixpath

from ...caches import BlockReader
from ...errors import NotImplementedByStore
from ...storage import ObjectInfo, Store
from ..head_probe import Heads
from ..index import SlideIndex
from ..members import Members, list_folder
from ..names import SLIDE_EXTENSIONS, extension, kind_of
from .series import SERIES_MARK, parse_series

MAGIC_AT = 128
MAGIC = b"DICM"


def is_dicom(head: bytes) -> bool:
    return head[MAGIC_AT:MAGIC_AT + len(MAGIC)] == MAGIC


def _candidates(objects: list[ObjectInfo]) -> tuple[ObjectInfo, ...]:
    """The objects of a folder that may be instances (by name and size)."""
    return tuple(info for info in objects
                 if kind_of(info.id, info.size) == "slide" and info.size > MAGIC_AT + 4)


def _unnamed_instances(entries: list[dict], heads: Heads) -> set[str]:
    """The ids of the entries without a slide extension (and big enough) in folders whose
    first such entry is a DICOM instance by its bytes."""
    unnamed: dict[str, list[dict]] = {}
    for entry in entries:
        folder = posixpath.dirname(entry["id"])
        if (folder and entry["kind"] == "slide" and (entry["size"] or 0) > MAGIC_AT + 4
                and extension(entry["id"]) not in SLIDE_EXTENSIONS):
            unnamed.setdefault(folder, []).append(entry)
    instances: set[str] = set()
    for group in unnamed.values():
        head = heads(group[0])
        if head is not None and is_dicom(head):
            instances.update(entry["id"] for entry in group)
    return instances


def _folder_of(slide_id: str) -> str:
    folder = posixpath.dirname(slide_id)
    return folder + "/" if folder else ""


class DicomRule:
    name = "dicom"

    def members(self, store: Store, slide_id: str, head: bytes | None,
                size: int | None) -> Members | None:
        if head is not None:
            if not is_dicom(head):
                return None
            folder = _folder_of(slide_id)
            asked = ObjectInfo(slide_id, size or 0, None)
            try:
                # The store's root holds slides of every kind: an instance there is a series
                # of its own.
                objects = _candidates(list_folder(store, folder)) if folder else (asked,)
            except NotImplementedByStore:
                objects = (asked,)
            if slide_id not in {info.id for info in objects}:
                objects = tuple(sorted(objects + (asked,), key=lambda info: info.id))
            return Members(self.name, folder.rstrip("/"), objects, selector=slide_id)
        folder, mark, series = slide_id.rpartition(SERIES_MARK)
        if not mark or "/" in series:
            folder, series = slide_id, ""
        try:
            objects = _candidates(list_folder(store, folder + "/"))
        except NotImplementedByStore:
            return None
        if not objects:
            return None
        return Members(self.name, folder, objects, selector=SERIES_MARK + series if series
                       else "")

    def fold(self, entries: list[dict], heads: Heads) -> list[dict]:
        instances = _unnamed_instances(entries, heads)
        series: dict[str, dict] = {}
        kept = []
        for entry in entries:
            folder = posixpath.dirname(entry["id"])
            # Instances at the store's root have no folder to stand for them.
            if not folder or entry["kind"] != "slide" or (
                    extension(entry["id"]) != ".dcm" and entry["id"] not in instances):
                kept.append(entry)
                continue
            known = series.setdefault(folder, {"id": folder, "size": 0, "modified": None,
                                               "kind": "slide"})
            known["size"] += entry["size"] or 0
            if entry["modified"] and (known["modified"] or "") < entry["modified"]:
                known["modified"] = entry["modified"]
        return kept + list(series.values())

    def parse(self, blocks: BlockReader, members: Members) -> SlideIndex:
        return parse_series(blocks, members)


DICOM_RULE = DicomRule()
