"""Colour modes: how a request's mode resolves for a profile, conversion to sRGB against
ImageCms's own, and transforms built once per profile."""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

import icc_slides
from helpers import testdata_path
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.errors import BadRequest, CorruptSlide
from wsi_blueprint.imaging import color


@pytest.mark.parametrize("mode,size,space,expected", [
    ("auto", 3144, "RGB", "embed"), ("auto", color.EMBED_LIMIT, "RGB", "embed"),
    ("auto", color.EMBED_LIMIT + 1, "RGB", "srgb"), ("srgb", 3144, "RGB", "srgb"),
    ("embed", 1_651_432, "RGB", "embed"), ("raw", 3144, "RGB", "raw"),
    ("srgb", None, None, "raw"), ("embed", None, None, "raw"), ("auto", None, None, "raw"),
    ("srgb", 3144, "GRAY", "raw"), ("embed", 3144, "CMYK", "raw")])
def test_modes_resolve_by_the_profile(mode, size, space, expected):
    assert color.resolve(mode, size, space) == expected


@pytest.mark.parametrize("mode,expected", [("auto", "raw"), ("srgb", "raw"),
                                           ("embed", "embed"), ("raw", "raw")])
def test_a_profile_that_is_srgb_in_effect_is_not_applied(mode, expected):
    assert color.needs_pixels_check(mode, 3144, "RGB") == (mode in ("auto", "srgb"))
    assert color.resolve(mode, 3144, "RGB", is_srgb=True) == expected


@pytest.mark.parametrize("name", ["TCGA-CR-7395-J2K-33005.svs", "boxes.tiff"])
def test_srgb_in_effect_is_told_by_the_pixels_not_the_name(name):
    with tifffile.TiffFile(testdata_path(name)) as tif:  # v2 and v4 sRGB profiles
        assert color.Profile(bytes(tif.pages[0].tags[icc_slides.ICC_TAG].value)).is_srgb()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert color.Profile(srgb).is_srgb()
    assert not color.Profile(icc_profiles.swapped_primaries("sRGB")).is_srgb()
    assert not color.Profile(icc_profiles.lut_profile(9)).is_srgb()


def test_an_unknown_mode_is_a_bad_request():
    assert color.color_mode(" SRGB ") == "srgb"
    with pytest.raises(BadRequest):
        color.color_mode("p3")


@pytest.mark.parametrize("profile", [icc_profiles.swapped_primaries(),
                                     icc_profiles.lut_profile(33)], ids=["matrix", "lut"])
def test_conversion_is_imagecms_perceptual(profile):
    pixels = icc_slides.pattern(256, 192)
    ours = color.Profile(profile).to_srgb(pixels)
    reference = ImageCms.profileToProfile(
        Image.fromarray(pixels), ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        ImageCms.createProfile("sRGB"), renderingIntent=ImageCms.Intent.PERCEPTUAL)
    np.testing.assert_array_equal(ours, np.asarray(reference))
    # The profile is strong: stored red shows as green.
    red = pixels[100, 120]
    assert tuple(red) == (230, 30, 30) and ours[100, 120, 1] > 200 and ours[100, 120, 0] < 60


def test_transforms_are_built_once_per_profile_and_bounded():
    profiles = color.Profiles(capacity=2)
    reads = []

    def read(data):
        return lambda: reads.append(data) or data

    first = profiles.get("a", read(icc_profiles.swapped_primaries()))
    transform = first.transform()
    assert profiles.get("a", read(b"other")) is first and first.transform() is transform
    profiles.get("b", read(b"b"))
    profiles.get("c", read(b"c"))  # evicts 'a', the least recently used
    assert profiles.get("a", read(b"a again")).data == b"a again"
    assert len(reads) == 4


def test_a_profile_lcms_cannot_use_is_a_corrupt_slide():
    broken = icc_profiles.swapped_primaries()[:200]
    with pytest.raises(CorruptSlide):
        color.Profile(broken).to_srgb(np.zeros((4, 4, 3), np.uint8))
