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

    def open_already(self, slide_id: str) -> SlideReader | None:
        """A reader of the slide if it is open and fresh, else None (see SlideLibrary)."""
        slide = self.library.open_already(slide_id)
        return None if slide is None else SlideReader(slide, slide_id, self.pool)
