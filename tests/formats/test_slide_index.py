"""SlideIndex as the metadata cache's value: JSON on the wire, identical after the trip."""

import json
import time

import pytest

from helpers import make_settings
from wsi_blueprint.caches import Caches
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats import SlideIndex
from wsi_blueprint.formats.index import INDEX_VERSION, INLINE_LIMIT, IntArray

REAL = ["CMU-1-Small-Region.svs", "TCGA-CR-7395-J2K-33005.svs", "DAPI-fluorescence.ndpi",
        "small.svs", "boxes.tiff"]


@pytest.mark.parametrize("name", REAL)
def test_round_trip_of_real_slides(real_slide, name):
    index = real_slide(name).index
    data = index.to_bytes()
    assert json.loads(data)["version"] == INDEX_VERSION  # plain JSON, never pickle
    assert SlideIndex.from_bytes(data) == index
    assert SlideIndex.decode(SlideIndex.encode(index)) == index


def test_round_trip_of_referenced_arrays(synthetic_slides):
    index = synthetic_slides.open("subifd-bigtiff.tiff").index
    offsets = index.levels[0].layout.offsets
    assert offsets.values is None and offsets.count > INLINE_LIMIT  # kept in the file
    assert index.levels[-1].layout.offsets.values is not None  # small: inline
    assert SlideIndex.from_bytes(index.to_bytes()) == index
    assert len(index.to_bytes()) < 8000


def test_inline_arrays_are_base64_little_endian():
    array = IntArray.of([1, 2**40, 7], offset=0, dtype="<u8")
    data = array.to_json()
    assert data["dtype"] == "<u8" and "b64" in data
    assert IntArray.from_json(data) == array
    assert IntArray.of([5], 0, "<u4").to_json()["dtype"] == "<u4"


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"version": 1}',
                                  json.dumps({"version": INDEX_VERSION + 1}).encode()])
def test_foreign_data_is_a_value_error(data):
    with pytest.raises(ValueError):
        SlideIndex.from_bytes(data)


def test_shared_through_memcached(real_slide, memcached):
    """One worker parses and caches the index; another, with an empty process cache, gets
    an equal index from memcached."""
    index = real_slide("DAPI-fluorescence.ndpi").index
    settings = make_settings(memcached=memcached.address)
    writer = Caches.from_settings(settings, Counters(), metadata_codec=SlideIndex)
    writer.metadata.set("slide", index)
    # Stores go unanswered (noreply): another connection may ask before memcached holds it.
    deadline = time.monotonic() + 5
    while True:
        reader_counters = Counters()
        reader = Caches.from_settings(settings, reader_counters, metadata_codec=SlideIndex)
        found = reader.metadata.get("slide")
        if found is not None or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert found == index
    assert reader_counters.get("cache_hits", cache="metadata", tier="l2") == 1
