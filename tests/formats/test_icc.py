"""ICC profiles in the slide index: where each lies and what it is, never its bytes."""

import os

import pytest
import tifffile

import icc_slides
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.formats import SlideIndex
from wsi_blueprint.formats.icc import IccProfile


def tag_bytes(path: str, page: int = 0) -> bytes:
    with tifffile.TiffFile(path) as tif:
        return bytes(tif.pages[page].tags[icc_slides.ICC_TAG].value)


@pytest.mark.parametrize("name,description,version4", [
    ("TCGA-CR-7395-J2K-33005.svs", "sRGB IEC61966-2.1", False),  # a v2 'desc' tag
    ("boxes.tiff", "sRGB built-in", True)])                      # a v4 'mluc' tag
def test_real_profiles_are_located_and_named(real_slide, name, description, version4):
    slide = real_slide(name)
    profile = slide.index.icc_profile
    stored = tag_bytes(testdata_path(name))
    assert (profile.description, profile.color_space, profile.length) == \
        (description, "RGB", len(stored))
    assert (stored[8] == 4) == version4
    assert slide.read_profile(profile) == stored


def test_a_slide_without_a_profile_has_none(real_slide):
    index = real_slide("CMU-1-Small-Region.svs").index
    assert index.icc_profile is None and index.associated_icc == {}


@pytest.fixture(scope="module")
def big_profile_slide(tmp_path_factory):
    """A scanner-size (1.6 MB) LUT profile on the slide, another on the label."""
    folder = str(tmp_path_factory.mktemp("icc"))
    profile, label = icc_profiles.lut_profile(65), icc_profiles.swapped_primaries("Label")
    icc_slides.write_slide(os.path.join(folder, "big.svs"), profile, label)
    return folder, profile, label


def test_the_index_keeps_the_place_not_the_bytes(big_profile_slide):
    folder, profile, label = big_profile_slide
    slide = open_slide("file://" + folder, "big.svs")
    index = slide.index
    assert index.icc_profile.length == len(profile) > 1_600_000
    assert index.icc_profile.description == "Swapped primaries, LUT (synthetic)"
    assert len(index.to_bytes()) < 4000  # shared through memcached: no megabytes in it
    assert SlideIndex.from_bytes(index.to_bytes()) == index
    assert slide.read_profile(index.icc_profile) == profile
    # The label has its own profile; the macro and thumbnail have none.
    assert set(index.associated_icc) == {"label"}
    assert slide.read_profile(index.associated_icc["label"]) == label
    assert index.associated_icc["label"].description == "Label"


def test_what_is_not_an_icc_profile_is_no_profile(tmp_path):
    icc_slides.write_slide(str(tmp_path / "junk.svs"), b"not a profile at all" * 10)
    assert open_slide(f"file://{tmp_path}", "junk.svs").index.icc_profile is None


def test_a_profile_in_another_object_round_trips():
    profile = IccProfile(10, 20, "desc", "RGB", member="instance-2.dcm")
    assert IccProfile.from_json(profile.to_json()) == profile
