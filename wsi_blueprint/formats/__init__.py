"""Formats: slide files parsed through the block reader into a SlideIndex, tiles read raw.

`parse_slide(blocks, slide_id)` recognises the format from the bytes and returns the index
(the metadata cache's value and codec); `Slide(index, blocks)` reads encoded tiles and
associated images for the imaging layer, and gives each level's model (`levels`: where its
stored tiles lie and what fills the gaps).
"""

from .detect import parse_slide
from .index import Image, Level, SlideIndex
from .slide import Slide
from .tile import EncodedTile

__all__ = ["EncodedTile", "Image", "Level", "Slide", "SlideIndex", "parse_slide"]
