"""Generic tiled pyramidal TIFF: what libvips, OME-TIFF writers, bfconvert and others write.

Level 0 is the first directory and must be tiled. The reduced levels are its SubIFDs when it
has any (libvips --subifd, OME-TIFF; the main chain then holds other planes or series), else
the later tiled directories of the main chain. Either way a level must be smaller than level 0
with the same aspect ratio; masks and images of another shape are not levels.
"""

import tifffile

from ..errors import UnsupportedFormat
from . import icc
from .index import Image, SlideIndex
from .tiff_pages import as_levels, image_of, resolution_mpp, tiff_properties

_MASK = 4  # NewSubfileType bit: a transparency mask


def _is_reduced(page: tifffile.TiffPage, base: tifffile.TiffPage) -> bool:
    width, height = page.imagewidth, page.imagelength
    if not page.is_tiled or int(page.subfiletype) & _MASK or width >= base.imagewidth:
        return False
    expected_width = base.imagewidth * height / base.imagelength
    return abs(expected_width - width) <= max(2.0, 0.02 * width)


def parse(tiff: tifffile.TiffFile) -> SlideIndex:
    first = tiff.pages.first
    if not first.is_tiled:
        raise UnsupportedFormat("a TIFF stored in strips, not a tiled pyramid")
    others = first.pages if first.subifds else list(tiff.pages)[1:]
    levels: list[Image] = [image_of(first)]
    seen = {(first.imagewidth, first.imagelength)}
    for page in others:
        size = (page.imagewidth, page.imagelength)
        if size not in seen and _is_reduced(page, first):
            levels.append(image_of(page))
            seen.add(size)
    return SlideIndex(
        format="generic-tiff",
        levels=as_levels(levels),
        mpp=resolution_mpp(first),
        objective_power=None,
        properties=tiff_properties(first),
        associated={},
        icc_profile=icc.locate(first),
    )
