import pytest

from wsi_blueprint.caches import BlockReader, Caches
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats.detect import parse_slide
from wsi_blueprint.sample import write_sample
from wsi_blueprint.storage import open_store

from helpers import make_settings


def test_the_demo_slide_is_a_three_level_pyramid(tmp_path):
    write_sample(str(tmp_path / "demo.tiff"), 1024, 768)
    settings = make_settings(store=f"file://{tmp_path}")
    counters = Counters()
    reader = open_store(settings, counters).open("demo.tiff")
    blocks = BlockReader(reader, Caches.from_settings(settings, counters).blocks,
                         settings.block_size, "demo")
    index = parse_slide(blocks, "demo.tiff")
    assert [(level.width, level.height) for level in index.levels] == [
        (1024, 768), (256, 192), (64, 48)]
    assert index.mpp == pytest.approx((0.25, 0.25))
