"""The MRXS rule of the catalog: `X.mrxs` stands for itself and the objects of its folder `X/`.

An id is an MRXS slide when it names an object ending in `.mrxs` beside a folder of the same
name holding a Slidedat.ini (whose contents the parser then checks). A listing shows `X.mrxs`
once and hides the folder `X/` and the objects in it. A `.mrxs` object holding a TIFF is left
to the TIFF readers.
"""

from ..caches import BlockReader
from ..errors import NotImplementedByStore
from ..storage import ObjectInfo, Store
from . import mrxs
from .head_probe import Heads
from .index import SlideIndex
from .members import Members, list_folder


def companion_folder(slide_id: str) -> str | None:
    """`X/` for an id `X.mrxs`; None for other ids."""
    if slide_id.lower().endswith(mrxs.SUFFIX) and len(slide_id) > len(mrxs.SUFFIX):
        return slide_id[:-len(mrxs.SUFFIX)] + "/"
    return None


class MrxsRule:
    name = "mrxs"

    def members(self, store: Store, slide_id: str, head: bytes | None,
                size: int | None) -> Members | None:
        folder = companion_folder(slide_id)
        if folder is None or head is None or head[:2] in (b"II", b"MM"):  # a TIFF
            return None
        try:
            objects = list_folder(store, folder)
        except NotImplementedByStore:
            return None
        # The .mrxs file itself is never read: OpenSlide only checks it is there. Without its
        # folder the parser says what is missing.
        return Members(self.name, slide_id, (ObjectInfo(slide_id, size or 0, None),)
                       + tuple(objects))

    def fold(self, entries: list[dict], heads: Heads) -> list[dict]:
        folders = {companion_folder(entry["id"]) for entry in entries
                   if entry["kind"] == "slide"} - {None}
        return [entry for entry in entries
                if not any(entry["id"].startswith(folder) for folder in folders)]

    def parse(self, blocks: BlockReader, members: Members) -> SlideIndex:
        return mrxs.parse(blocks, members)


MRXS_RULE = MrxsRule()
