"""The real test slides, checked against OpenSlide: geometry, metadata and pixels.

OpenSlide is the reference here only. It adds NDPI levels by JPEG scaling (we expose the
stored ones), so levels are compared where both have them. Pixels are decoded with imagecodecs
(libjpeg-turbo, OpenJPEG) and compared with `read_region` at the same place.
"""

import io
import math
import os

import numpy
import openslide
import pytest
import tifffile

from helpers import testdata_path
from slide_access import open_slide
from tile_decoder import assemble, decode
from wsi_blueprint.errors import CorruptSlide, UnsupportedFormat

SLIDES = ["CMU-1-Small-Region.svs", "TCGA-CR-7395-J2K-33005.svs", "DAPI-fluorescence.ndpi",
          "small.svs", "boxes.tiff"]
VENDORS = {"CMU-1-Small-Region.svs": "aperio", "TCGA-CR-7395-J2K-33005.svs": "aperio",
           "DAPI-fluorescence.ndpi": "hamamatsu", "small.svs": "aperio",
           "boxes.tiff": "generic-tiff"}

# Mean absolute difference (0-255 scale) with OpenSlide. Both sides use the same codec
# libraries, so tiles at whole-pixel positions match exactly (measured 0.0). Where a level's
# downsample is not an integer (2.0005, 4.016), OpenSlide places the region at a fractional
# level position and resamples it bilinearly: up to 5.4 measured on tissue, against 30 and
# more for a wrong tile.
EXACT_MAD = 1.0
RESAMPLED_MAD = 8.0


def _openslide(name: str) -> openslide.OpenSlide:
    return openslide.OpenSlide(testdata_path(name))


def _openslide_level(reference: openslide.OpenSlide, width: int, height: int) -> int:
    return reference.level_dimensions.index((width, height))


@pytest.mark.parametrize("name", SLIDES)
def test_geometry_and_metadata_match_openslide(real_slide, name):
    slide, reference = real_slide(name), _openslide(name)
    index = slide.index
    assert index.format == VENDORS[name] == reference.properties["openslide.vendor"]
    assert (index.width, index.height) == reference.dimensions
    ours = [(level.width, level.height) for level in index.levels]
    theirs = list(reference.level_dimensions)
    assert set(ours) <= set(theirs)
    if index.format != "hamamatsu":
        assert ours == theirs
    for level in index.levels:
        their_downsample = reference.level_downsamples[
            _openslide_level(reference, level.width, level.height)]
        assert level.downsample == pytest.approx(their_downsample, rel=1e-3)
    mpp_x = reference.properties.get(openslide.PROPERTY_NAME_MPP_X)
    if mpp_x is None:
        assert index.mpp is None
    else:
        assert index.mpp == pytest.approx(
            (float(mpp_x), float(reference.properties[openslide.PROPERTY_NAME_MPP_Y])))
    power = reference.properties.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)
    assert index.objective_power == (float(power) if power else None)
    assert slide.associated_names == sorted(reference.associated_images)
    for name_, image in index.associated.items():
        assert (image.width, image.height) == reference.associated_images[name_].size


def test_vendor_properties_use_openslide_names(real_slide):
    properties = real_slide("CMU-1-Small-Region.svs").index.properties
    assert properties["aperio.AppMag"] == "20"
    assert properties["aperio.MPP"] == "0.4990"
    assert properties["openslide.mpp-x"] == "0.499"
    assert properties["tiff.ImageDescription"].startswith("Aperio Image Library")
    ndpi = real_slide("DAPI-fluorescence.ndpi").index.properties
    assert ndpi["hamamatsu.SourceLens"] == "40" and ndpi["tiff.Make"] == "Hamamatsu"
    reference = _openslide("DAPI-fluorescence.ndpi").properties
    assert ndpi["hamamatsu.NDP.S/N"] == reference["hamamatsu.NDP.S/N"]


def _sample_coords(columns: int, rows: int) -> list[tuple[int, int]]:
    """Corners (edge tiles among them) and the middle."""
    return sorted({(0, 0), (columns - 1, 0), (0, rows - 1), (columns - 1, rows - 1),
                   (columns // 2, rows // 2)})


@pytest.mark.parametrize("name", SLIDES)
def test_tile_pixels_match_openslide(real_slide, name):
    slide, reference = real_slide(name), _openslide(name)
    worst = {}
    for number, level in enumerate(slide.levels):
        their_level = _openslide_level(reference, level.width, level.height)
        downsample = reference.level_downsamples[their_level]
        for tile in slide.read_tiles(number, _sample_coords(*slide.tile_grid(number))):
            pixels = decode(tile)[..., :3].astype(int)
            location = (round(tile.x * downsample), round(tile.y * downsample))
            expected = numpy.asarray(reference.read_region(
                location, their_level, (tile.valid_width, tile.valid_height)).convert("RGB"))
            mad = numpy.abs(pixels - expected).mean()
            exact = all(p / downsample == int(p / downsample) for p in location)
            assert mad <= (EXACT_MAD if exact else RESAMPLED_MAD), (number, tile.x, tile.y)
            worst[number] = max(worst.get(number, 0), mad)
    print(name, "worst MAD per level", {k: round(v, 3) for k, v in worst.items()})


@pytest.mark.parametrize("name", SLIDES)
def test_associated_images_match_openslide(real_slide, name):
    slide, reference = real_slide(name), _openslide(name)
    for associated in slide.associated_names:
        image = slide.index.associated[associated]
        pixels = assemble(slide.read_associated(associated), image.width, image.height)
        expected = numpy.asarray(reference.associated_images[associated].convert("RGB"))
        assert numpy.abs(pixels[..., :3].astype(int) - expected).mean() <= EXACT_MAD


def test_corrupt_tile_opens_and_returns_bytes_that_do_not_decode(real_slide):
    slide = real_slide("corrupt-tile.svs")
    assert slide.index.format == "aperio"
    tile = slide.read_tiles(0, [(0, 0)])[0]
    assert tile.data and tile.compression == "jpeg"
    with pytest.raises(Exception, match="(?i)jpeg|marker"):
        decode(tile)


@pytest.mark.parametrize("name, reason", [
    ("unknown-compression.tiff", "compression 52479"),
    ("not-a-tiff.svs", "not a TIFF"),
    ("not-a-slide.tif", "strips, not a tiled pyramid"),
    ("camelyon-tiled-full.dcm", "not a TIFF"),  # one object: the library reads DICOM series
])
def test_unsupported_files_are_refused_with_a_reason(real_slide, name, reason):
    with pytest.raises(UnsupportedFormat, match=reason) as raised:
        real_slide(name)
    assert name in raised.value.message and raised.value.status == 415


@pytest.mark.parametrize("keep", [8, 100, 4000, 200_000, 1_000_000])
def test_truncated_slides_are_corrupt(tmp_path, real_slide, keep):
    """Cut anywhere: the structure is broken (422), or, cut after it, the parse succeeds and
    the tiles past the cut are corrupt."""
    data = open(testdata_path("CMU-1-Small-Region.svs"), "rb").read()[:keep]
    (tmp_path / "cut.svs").write_bytes(data)
    try:
        slide = open_slide(f"file://{tmp_path}", "cut.svs")
    except CorruptSlide as exc:
        assert exc.status == 422
        return
    columns, rows = slide.tile_grid(0)
    with pytest.raises(CorruptSlide):
        slide.read_tiles(0, [(columns - 1, rows - 1)])


@pytest.mark.parametrize("name", ["small.svs", "boxes.tiff", "CMU-1-Small-Region.svs",
                                  "DAPI-fluorescence.ndpi"])
def test_garbled_structure_never_escapes_as_another_error(tmp_path, name):
    """Random bytes over the TIFF header and directories: every outcome is a slide, an
    UnsupportedFormat or a CorruptSlide, and reading its tiles the same."""
    original = open(testdata_path(name), "rb").read()
    structure = _structure_ranges(original)
    rng = numpy.random.default_rng(1234)
    outcomes = {}
    for trial in range(60):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 6))):
            start, end = structure[int(rng.integers(len(structure)))]
            position = int(rng.integers(start, end))
            data[position] = int(rng.integers(256))
        path = tmp_path / f"{trial}.tif"
        path.write_bytes(bytes(data))
        try:
            slide = open_slide(f"file://{tmp_path}", path.name)
            for number in range(len(slide.levels)):
                columns, rows = slide.tile_grid(number)
                slide.read_tiles(number, [(c, r) for r in range(rows) for c in range(columns)])
            for associated in slide.associated_names:
                slide.read_associated(associated)
            outcome = "ok"
        except (UnsupportedFormat, CorruptSlide) as exc:
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        os.remove(path)
    print(name, outcomes)
    assert set(outcomes) <= {"ok", "UnsupportedFormat", "CorruptSlide"}


def _structure_ranges(data: bytes) -> list[tuple[int, int]]:
    """The header, each directory's entry table and the arrays that locate the pixels
    (offsets, byte counts, NDPI McuStarts): where garbling hurts most."""
    ranges = [(0, 8)]
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        for page in tiff.pages:
            ranges.append((page.offset, min(len(data), page.offset + 2 + 12 * len(page.tags))))
            for code in (273, 279, 324, 325, 347, 65426):
                tag = page.tags.get(code)
                if tag is not None and tag.valueoffset > 8:
                    ranges.append((tag.valueoffset, min(len(data), tag.valueoffset + 64)))
    return ranges


def test_ndpi_levels_are_virtual_tiles_of_restart_intervals(real_slide):
    slide = real_slide("DAPI-fluorescence.ndpi")
    level = slide.levels[0]
    assert (level.tile_width, level.tile_height) == (3968, 256)
    assert slide.tile_grid(0) == (1, math.ceil(4864 / 256))
    smallest = slide.levels[-1]  # small enough to serve whole
    assert (smallest.tile_width, smallest.tile_height) == (smallest.width, smallest.height)
