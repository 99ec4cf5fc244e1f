"""A level concatenated over several instances reads as the same level written whole.

Each concatenation here is split from an instance also kept whole: every tile must come back
with the whole instance's bytes and pixels, and OpenSlide (which reads concatenations) must
see the same image in both. Missing or overlapping pieces are a 422 naming them.
"""

import os

import numpy
import openslide
import pydicom
import pytest
import tifffile

from dicom_writer import split_instance, write_instance
from helpers import make_settings, testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.errors import CorruptSlide
from wsi_blueprint.formats.index import SlideIndex
from wsi_blueprint.imaging.decode import decode
from wsi_blueprint.state import WSIState
from wsi_blueprint.storage.joined import member_of

# name: (codec, offset table, sparse, frames per instance); the level is 5 x 4 frames.
SPLITS = {
    "jpeg-basic": ("jpeg", "basic", False, [7, 6, 7]),
    "jpeg-extended": ("jpeg", "extended", False, [10, 10]),
    "native": ("native", "basic", False, [1, 19]),
    "sparse": ("jpeg", "basic", True, [9, 9]),
}
SPARSE_MISSING = frozenset({(1, 1), (4, 0)})


@pytest.fixture(scope="module")
def source():
    pixels = tifffile.imread(testdata_path("CMU-1-Small-Region.svs"), key=0)
    return numpy.ascontiguousarray(pixels[1000:1200, 800:1100])  # 300 x 200: edge frames


def _remove(folder, names):
    for name in names:
        os.remove(folder / name)


@pytest.fixture(scope="module")
def store(tmp_path_factory, source):
    root = tmp_path_factory.mktemp("dicom-concatenations")
    for name, (codec, offsets, sparse, counts) in SPLITS.items():
        os.makedirs(root / "whole" / name)
        os.makedirs(root / "split" / name)
        whole = str(root / "whole" / name / "level0.dcm")
        write_instance(whole, source, codec=codec, offsets=offsets,
                       missing=SPARSE_MISSING if sparse else frozenset())
        split_instance(whole, str(root / "split" / name), counts)
    # frames of 8 px: 38 x 25 of them, the offset tables kept in the files, not the index
    os.makedirs(root / "whole" / "many")
    os.makedirs(root / "split" / "many")
    write_instance(str(root / "whole" / "many" / "level0.dcm"), source, tile=8)
    split_instance(str(root / "whole" / "many" / "level0.dcm"), str(root / "split" / "many"),
                   [400, 550])
    broken = {  # name: frames per instance, whether the total is stated, parts removed
        "middle-gone": ([7, 6, 7], True, ["part2.dcm"]),
        "middle-gone-untold": ([7, 6, 7], False, ["part2.dcm"]),
        "last-gone-untold": ([7, 6, 7], False, ["part3.dcm"]),
        "first-gone": ([10, 10], False, ["part1.dcm"]),
    }
    for name, (counts, total, gone) in broken.items():
        os.makedirs(root / "broken" / name)
        split_instance(str(root / "whole" / "jpeg-basic" / "level0.dcm"),
                       str(root / "broken" / name), counts, total=total)
        _remove(root / "broken" / name, gone)
    overlap = root / "broken" / "overlap"
    os.makedirs(overlap)
    split_instance(str(root / "whole" / "jpeg-basic" / "level0.dcm"), str(overlap), [10, 10])
    ds = pydicom.dcmread(overlap / "part2.dcm")
    ds.ConcatenationFrameOffsetNumber = 9
    ds.save_as(overlap / "part2.dcm")
    return root


@pytest.fixture(scope="module")
def library(store):
    return WSIState.build(make_settings(store=f"file://{store}")).library


def _all(slide):
    columns, rows = slide.tile_grid(0)
    return [(c, r) for r in range(rows) for c in range(columns)]


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_a_concatenated_level_reads_the_frames_of_the_whole_one(library, name):
    whole, split = library.open(f"whole/{name}"), library.open(f"split/{name}")
    assert (split.index.width, split.index.height) == (300, 200)
    assert len(split.index.levels[0].layout.parts) == len(SPLITS[name][3])
    coords = _all(whole)
    # one call spanning every instance of the concatenation, and each tile alone
    together = split.read_tiles(0, coords)
    for coord, expected, got in zip(coords, whole.read_tiles(0, coords), together):
        assert got.sparse == expected.sparse, coord
        assert got.data == expected.data, coord
        assert split.read_tiles(0, [coord])[0].data == expected.data, coord
        if not expected.sparse:
            assert numpy.array_equal(decode(got), decode(expected)), coord
    assert split.tile_ranges(0, coords) != whole.tile_ranges(0, coords)  # other files' bytes


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_the_concatenation_is_one_level_named_in_the_properties(library, store, name):
    split = library.open(f"split/{name}")
    properties = split.index.properties
    parts = " ".join(f"split/{name}/part{i + 1}.dcm" for i in range(len(SPLITS[name][3])))
    assert properties["dicom.level[0].concatenation"] == parts
    assert "dicom.level[0].other-instances" not in properties
    assert len(split.index.levels) == 1
    # the index survives the metadata cache's encoding
    assert SlideIndex.from_bytes(split.index.to_bytes()) == split.index


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_openslide_sees_the_same_image_in_the_concatenation(library, store, name):
    whole = openslide.OpenSlide(str(store / "whole" / name / "level0.dcm"))
    split = openslide.OpenSlide(str(store / "split" / name / "part2.dcm"))
    assert split.dimensions == whole.dimensions == (300, 200)
    assert numpy.array_equal(numpy.asarray(split.read_region((0, 0), 0, (300, 200))),
                             numpy.asarray(whole.read_region((0, 0), 0, (300, 200))))


def test_any_instance_of_a_concatenation_opens_it_whole(library):
    folder = library.open("split/jpeg-basic")
    by_part = library.open("split/jpeg-basic/part3.dcm")
    assert by_part.index.levels == folder.index.levels


@pytest.mark.parametrize("name,reason", [
    ("middle-gone", "has 2 of its 3 instances"),
    ("middle-gone-untold", "lacks the instance of frames 8 to 13"),
    ("last-gone-untold", "13 frames for a grid of 5x4"),
    ("first-gone", "lacks the instance of frames 1 to 10"),
    ("overlap", "repeats frames from 10"),
])
def test_missing_pieces_of_a_concatenation_are_named(library, store, name, reason):
    with pytest.raises(CorruptSlide, match=reason):
        library.open(f"broken/{name}")
    response = create_app({"WSI_STORE": f"file://{store}"}).test_client().get(
        f"/slides/broken/{name}")
    assert response.status_code == 422
    assert reason in response.json["message"]


def test_big_offset_tables_of_a_concatenation_stay_in_their_files(library):
    whole, split = library.open("whole/many"), library.open("split/many")
    parts = split.index.levels[0].layout.parts
    assert [part.starts.count for part in parts] == [400, 550]
    assert all(part.starts.values is None for part in parts)  # read per tile from the file
    # prefetch warms each instance's table, in that instance's bytes
    tables = split.table_ranges()
    assert [member_of(offset)[0] for offset, _ in tables] == [0, 1]
    assert [size for _, size in tables] == [4 * 400, 4 * 550]
    coords = _all(whole)
    assert len(coords) == 950
    for expected, got in zip(whole.read_tiles(0, coords), split.read_tiles(0, coords)):
        assert got.data == expected.data
