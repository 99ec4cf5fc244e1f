"""Opening slides in the tests the way the app does: a real store, caches, a BlockReader."""

from helpers import make_settings
from wsi_blueprint.caches import BlockReader, Caches
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats import Slide, parse_slide
from wsi_blueprint.storage import open_store


def block_reader(store_url: str, slide_id: str, counters: Counters, **settings) -> BlockReader:
    """A BlockReader over a slide in a real store; `settings` as for make_settings."""
    settings = make_settings(store=store_url, **settings)
    store = open_store(settings, counters)
    caches = Caches.from_settings(settings, counters)
    reader = store.open(slide_id)
    return BlockReader(reader, caches.blocks, settings.block_size,
                       f"{store.name}|{reader.slide_id}|{reader.etag}")


def open_slide(store_url: str, slide_id: str, counters: Counters | None = None,
               **settings) -> Slide:
    blocks = block_reader(store_url, slide_id, counters or Counters(), **settings)
    return Slide(parse_slide(blocks, slide_id), blocks)
