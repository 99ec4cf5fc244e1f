"""Readers by slide id: the library's open slides, read with one blueprint's CPU pool."""

from ..imaging.cpu_pool import CpuPool
from ..library import SlideLibrary
from .reader import SlideReader


class Readers:
    def __init__(self, library: SlideLibrary, pool: CpuPool | None = None):
        self.library = library
        self.pool = pool

    def open(self, slide_id: str) -> SlideReader:
        return SlideReader(self.library.open(slide_id), slide_id, self.pool)

    def reopen(self, slide_id: str) -> SlideReader:
        """The slide's new version, after a read met a replaced object (`ObjectChanged`)."""
        return SlideReader(self.library.reopen(slide_id), slide_id, self.pool)
