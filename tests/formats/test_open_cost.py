"""What opening a slide costs the store: a few block requests, never the whole file.

Measured (requests / bytes) with the default 256 KiB blocks and with 16 KiB blocks:
CMU-1-Small-Region.svs (1.9 MB): 4 / 890 KB and 7 / 104 KB; TCGA-CR-7395-J2K-33005.svs
(3.9 MB): 4 / 1.0 MB and 4 / 52 KB; DAPI-fluorescence.ndpi (3.5 MB): 5 / 1.18 MB and
7 / 104 KB; small.svs and boxes.tiff: 1 request (the whole small file is one block).
"""

import pytest

from helpers import testdata_path
from slide_access import block_reader
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats import parse_slide

SLIDES = ["CMU-1-Small-Region.svs", "TCGA-CR-7395-J2K-33005.svs", "DAPI-fluorescence.ndpi",
          "small.svs", "boxes.tiff"]
BIG = SLIDES[:3]


def _open(name: str, **settings) -> tuple[Counters, int]:
    counters = Counters()
    folder = "file://" + testdata_path(name).rsplit("/", 1)[0]
    blocks = block_reader(folder, name, counters, **settings)
    parse_slide(blocks, name)
    print(f"{name}: {counters.get('store_requests'):.0f} requests, "
          f"{counters.get('store_bytes'):.0f} of {blocks.size} bytes")
    return counters, blocks.size


@pytest.mark.parametrize("name", SLIDES)
def test_open_takes_a_few_block_requests(name):
    counters, size = _open(name)
    assert counters.get("store_requests") <= 6
    assert counters.get("store_bytes") <= min(size, 5 * 256 * 1024)


@pytest.mark.parametrize("name", BIG)
def test_open_reads_the_structure_not_the_pixels(name):
    counters, size = _open(name, block_size="16K")
    assert counters.get("store_requests") <= 10
    assert counters.get("store_bytes") <= 128 * 1024 < size / 10


@pytest.mark.parametrize("name", BIG)
def test_reopening_through_a_warm_block_cache_costs_nothing(name):
    counters = Counters()
    folder = "file://" + testdata_path(name).rsplit("/", 1)[0]
    blocks = block_reader(folder, name, counters)
    first = parse_slide(blocks, name)
    before = counters.get("store_requests")
    assert parse_slide(blocks, name) == first
    assert counters.get("store_requests") == before
