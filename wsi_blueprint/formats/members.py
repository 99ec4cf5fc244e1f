"""Slides made of several objects: which objects (members) a slide id stands for.

A format whose slides span objects (DICOM: the instances of a series folder; MRXS: the .mrxs
file and its folder of data files) has one `Rule`: it names the members of an id, folds a
listing page's members into one slide entry, and parses the joined members (see
storage.joined) into a SlideIndex. `formats.catalog` holds the rules and asks them in turn.
"""

import dataclasses
import hashlib
from typing import Protocol

from ..caches import BlockReader
from ..storage import ObjectInfo, Store
from .head_probe import Heads
from .index import SlideIndex


@dataclasses.dataclass(frozen=True)
class Members:
    """The objects of one slide, member i being `objects[i]` (at joined offset i << 40)."""

    format: str                       # the rule that found them, and parses them
    slide_id: str                     # the id they belong to (a DICOM series' folder)
    objects: tuple[ObjectInfo, ...]   # in key order
    selector: str = ""                # which part is asked: an instance's id, a series suffix

    def digest(self) -> str:
        """The version of the whole: changes when any member is added, removed or replaced."""
        sha = hashlib.sha256()
        for info in self.objects:
            sha.update(f"{info.id}\0{info.size}\0{info.modified}\n".encode("utf-8"))
        return sha.hexdigest()[:32]

    def versioned(self, member_id: str, etag: str) -> "Members":
        """These members with the version of one the caller opened where no listing gave
        one (an object named by its own id), so that its replacement changes the digest."""
        return dataclasses.replace(self, objects=tuple(
            ObjectInfo(info.id, info.size, etag) if info.id == member_id and not info.modified
            else info for info in self.objects))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(info.id for info in self.objects)


class Rule(Protocol):
    name: str

    def members(self, store: Store, slide_id: str, head: bytes | None,
                size: int | None) -> Members | None:
        """The members `slide_id` stands for, or None when it is no slide of this format.
        `head` is the first bytes (at least 132, fewer if the object is smaller) and `size`
        the size of the object the id names, both None when no object has that id."""

    def fold(self, entries: list[dict], heads: Heads) -> list[dict]:
        """A listing page's entries ({"id", "size", "modified", "kind"}, key order) with this
        format's members folded into one slide entry each; `heads` reads an entry's first
        bytes where its name does not tell (bounded: it may answer None)."""

    def parse(self, blocks: BlockReader, members: Members) -> SlideIndex:
        """The index of the joined members `blocks` reads (offsets joined, see
        storage.joined)."""


# Bounds the listing a slide's open may read: a folder with more objects is no slide.
MAX_MEMBERS = 20_000
_LIST_PAGE = 1000


def list_folder(store: Store, folder: str) -> list[ObjectInfo]:
    """The objects directly in `folder` ("" for the root, else ending in "/"), in key order.
    A store that cannot list answers NotImplementedByStore."""
    objects: list[ObjectInfo] = []
    cursor = None
    while True:
        page = store.list(prefix=folder, limit=_LIST_PAGE, cursor=cursor, delimiter="/")
        objects += [info for info in page.slides if not info.id.endswith("/")]
        cursor = page.next_cursor
        if cursor is None or len(objects) > MAX_MEMBERS:
            return objects[:MAX_MEMBERS]
