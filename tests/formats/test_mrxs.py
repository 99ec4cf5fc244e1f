"""MRXS slides (X.mrxs plus X/) against OpenSlide's reading of the same synthetic files.

The synthetic slide's camera photos overlap and are tinted apart (mrxs_slides), so a piece
painted at the wrong place or in the wrong order shows as a tint difference of 24 over the
overlaps, far above the tolerance. Both sides decode the JPEG images with libjpeg-turbo and
place them at whole pixels, so stored levels match exactly (measured: 0.0).
"""

import io
import os

import numpy
import openslide
import pytest
from PIL import Image

import mrxs_slides
from mrxs_slides import FILL_RGB, IMAGE, MPP, copy_slide, open_through_library, upload
from wsi_blueprint.counters import Counters
from wsi_blueprint.errors import NotFound
from wsi_blueprint.formats import SlideIndex
from wsi_blueprint.imaging.associated import read_associated
from wsi_blueprint.imaging.region import read_region

EXACT_MAD = 1.0
NAMES = ["synthetic.mrxs", "stitched.mrxs"]


def _folder(mrxs_set) -> str:
    return os.path.dirname(mrxs_set["synthetic.mrxs"].path)


def _reference(mrxs_set, name: str) -> openslide.OpenSlide:
    return openslide.OpenSlide(mrxs_set[name].path)


def _on_fill(image: Image.Image) -> numpy.ndarray:
    """OpenSlide's RGBA (transparent where no image lies) over the slide's fill colour."""
    canvas = Image.new("RGBA", image.size, FILL_RGB + (255,))
    return numpy.asarray(Image.alpha_composite(canvas, image).convert("RGB"), float)


def _opened(slide) -> list[str]:
    """The members the slide's joined reader has opened so far."""
    joined = slide.blocks.reader
    return sorted(joined.members[i].id for i in joined._readers)


def _mad(ours: numpy.ndarray, theirs: numpy.ndarray) -> float:
    assert ours.shape == theirs.shape
    return float(numpy.abs(ours.astype(float) - theirs).mean())


@pytest.mark.parametrize("name", NAMES)
def test_openslide_reads_the_synthetic_slide_as_mirax(mrxs_set, name):
    reference = _reference(mrxs_set, name)
    assert reference.properties["openslide.vendor"] == "mirax"
    assert list(reference.level_dimensions) == mrxs_set[name].sizes
    assert set(reference.associated_images) == {"label", "macro", "thumbnail"}


@pytest.mark.parametrize("name", NAMES)
def test_geometry_and_metadata_match_openslide(mrxs_set, name):
    slide = open_through_library(f"file://{_folder(mrxs_set)}", name)
    reference = _reference(mrxs_set, name)
    index = slide.index
    assert index.format == "mirax"
    assert [(level.width, level.height) for level in index.levels] == \
        list(reference.level_dimensions)
    assert [level.downsample for level in index.levels] == list(reference.level_downsamples)
    assert index.mpp == pytest.approx((float(reference.properties["openslide.mpp-x"]),
                                       float(reference.properties["openslide.mpp-y"])))
    assert index.mpp == pytest.approx((MPP, MPP))
    assert index.objective_power == float(reference.properties["openslide.objective-power"])
    assert index.properties["openslide.background-color"] == \
        reference.properties["openslide.background-color"]
    assert index.properties["mirax.GENERAL.SLIDE_NAME"] == "synthetic"
    # OpenSlide shows every key; a barcode identifies the patient, as the label does: kept,
    # and marked to be served only where the label is.
    barcode = "mirax.NONHIERLAYER_0_VAL_1_SECTION.BARCODE_VALUE"
    assert index.properties[barcode] == reference.properties[barcode]
    assert index.phi_properties == (barcode,)
    assert index.properties["mirax.NONHIERLAYER_0_VAL_1_SECTION.BARCODE_IMAGE_TYPE"] == "JPEG"
    assert slide.level_model(0).fill == FILL_RGB
    # Level 0 and 1 keep whole images; from concat 4 each photo is a piece of an image.
    assert [level.tile_width for level in index.levels] == [IMAGE, IMAGE, IMAGE // 2, IMAGE // 4]
    assert slide.associated_names == sorted(reference.associated_images)
    assert SlideIndex.from_bytes(index.to_bytes()) == index


@pytest.mark.parametrize("name", NAMES)
def test_every_level_matches_openslide_exactly(mrxs_set, name):
    slide = open_through_library(f"file://{_folder(mrxs_set)}", name)
    reference = _reference(mrxs_set, name)
    l0_width, l0_height = reference.dimensions
    for level, (width, height) in enumerate(reference.level_dimensions):
        ours = read_region(slide, 0, 0, l0_width, l0_height, width, height)
        theirs = _on_fill(reference.read_region((0, 0), level, (width, height)))
        assert _mad(ours, theirs) < EXACT_MAD, level


def test_overlaps_show_the_photo_openslide_shows(mrxs_set):
    """Photos 0 (tinted -24) and 1 (untinted) overlap at x 240-255 of level 0, where
    OpenSlide shows photo 1 (the later in row-major order), and so must we."""
    slide = open_through_library(f"file://{_folder(mrxs_set)}", "synthetic.mrxs")
    reference = _reference(mrxs_set, "synthetic.mrxs")
    ours = read_region(slide, 240, 16, 16, 96, 16, 96)
    theirs = _on_fill(reference.read_region((240, 16), 0, (16, 96)))
    assert _mad(ours, theirs) < EXACT_MAD
    # Photo 0 alone, cut out of the slide's source as the writer tinted it.
    mrxs = mrxs_set["synthetic.mrxs"]
    photo_0 = mrxs_slides.photo(mrxs, 0)[16:112, 240:256]
    assert numpy.abs(ours.astype(float) - photo_0).mean() > 10


@pytest.mark.parametrize("name", ["label", "macro", "thumbnail"])
def test_associated_images_match_openslide(mrxs_set, name):
    slide = open_through_library(f"file://{_folder(mrxs_set)}", "synthetic.mrxs")
    reference = _reference(mrxs_set, "synthetic.mrxs").associated_images[name]
    ours = read_associated(slide, name)
    assert ours.shape[:2] == (reference.height, reference.width)
    assert _mad(ours, numpy.asarray(reference.convert("RGB"), float)) < EXACT_MAD


def test_opening_reads_slidedat_index_and_the_position_record_only(mrxs_set):
    counters = Counters()
    slide = open_through_library(f"file://{_folder(mrxs_set)}", "synthetic.mrxs", counters,
                                 block_size="64K")
    assert _opened(slide) == ["synthetic/Data0001.dat", "synthetic/Index.dat",
                              "synthetic/Slidedat.ini"]
    # The .mrxs object's first bytes (is it a TIFF?), then one read each of the three.
    assert counters.get("store_requests") == 4
    slide.read_tiles(0, [(0, 0)])
    assert "synthetic/Data0000.dat" in _opened(slide)
    assert counters.get("store_requests") == 5


def test_slide_reads_the_same_over_s3(mrxs_set, s3_server, s3_bucket):
    folder = _folder(mrxs_set)
    upload(s3_server, s3_bucket, folder, "lab/")
    counters = Counters()
    remote = open_through_library(f"s3://{s3_bucket}/lab", "stitched.mrxs", counters,
                                  s3_endpoint_url=s3_server.endpoint)
    local = open_through_library(f"file://{folder}", "stitched.mrxs")
    assert remote.index.levels == local.index.levels
    # The .mrxs object's first bytes, the folder's listing, one read each of the three.
    assert counters.get("store_requests") == 5
    for level in range(len(local.levels)):
        coords = [(0, 0), (1, 1)]
        assert remote.read_tiles(level, coords) == local.read_tiles(level, coords)
    for name in local.associated_names:
        assert remote.read_associated(name) == local.read_associated(name)
    width, height = local.index.width, local.index.height
    assert numpy.array_equal(read_region(remote, 0, 0, width, height, 238, 180),
                             read_region(local, 0, 0, width, height, 238, 180))


@pytest.mark.parametrize("overlap", [True, False])
def test_without_positions_photos_lie_on_the_nominal_grid(mrxs_set, tmp_path, overlap):
    """Without positions OpenSlide steps photos by their size less the nominal overlap; with
    no overlap either, it keeps coarser images whole (no pieces)."""
    folder = copy_slide(mrxs_set["synthetic.mrxs"], str(tmp_path), "nominal")
    ini = os.path.join(folder, "Slidedat.ini")
    text = open(ini, encoding="utf-8-sig").read()
    text = text.replace("NONHIER_1_NAME = VIMSLIDE_POSITION_BUFFER", "NONHIER_1_NAME = Other")
    if not overlap:
        text = text.replace("OVERLAP_X = 24", "OVERLAP_X = 0").replace("OVERLAP_Y = 24",
                                                                       "OVERLAP_Y = 0")
    open(ini, "w", encoding="utf-8-sig", newline="").write(text)
    slide = open_through_library(f"file://{tmp_path}", "nominal.mrxs")
    reference = openslide.OpenSlide(str(tmp_path / "nominal.mrxs"))
    assert [(level.width, level.height) for level in slide.levels] == \
        list(reference.level_dimensions)
    width, height = reference.dimensions
    for level, size in enumerate(reference.level_dimensions):
        assert _mad(read_region(slide, 0, 0, width, height, *size),
                    _on_fill(reference.read_region((0, 0), level, size))) < EXACT_MAD
    pieces = [level.layout.parts_per_side for level in slide.levels]
    assert pieces == ([1, 1, 2, 4] if overlap else [1, 1, 1, 1])


def test_photos_recorded_at_the_origin_were_never_taken(tmp_path):
    """OpenSlide skips a photo recorded at 0, 0 (other than the first) on every level: its
    place shows the fill colour, though its images are stored."""
    slide_path = mrxs_slides.write_mrxs(str(tmp_path), "holes", untaken=(5, 6)).path
    slide = open_through_library(f"file://{tmp_path}", "holes.mrxs")
    reference = openslide.OpenSlide(slide_path)
    for level, size in enumerate(reference.level_dimensions):
        ours = read_region(slide, 0, 0, *reference.dimensions, *size)
        assert _mad(ours, _on_fill(reference.read_region((0, 0), level, size))) < EXACT_MAD
    # Photo 5 (at 224, 232) is gone: the fill colour shows where only it lay.
    assert (read_region(slide, 300, 300, 8, 8, 8, 8) == FILL_RGB).all()
    assert len(slide.levels[0].positions) == 48 - 2 * 4
    # Level 2 keeps 10 pieces in its 4 x 3 cells: past the last is no tile.
    assert slide.tile_grid(2) == (4, 3)
    assert len(slide.read_tiles(2, [(1, 2)])) == 1
    with pytest.raises(NotFound):
        slide.read_tiles(2, [(2, 2)])


def test_png_and_bmp_levels_match_openslide_exactly(tmp_path):
    slide_path = mrxs_slides.write_mrxs(str(tmp_path), "lossless",
                                        formats=("JPEG", "JPEG", "PNG", "BMP24")).path
    slide = open_through_library(f"file://{tmp_path}", "lossless.mrxs")
    assert [level.encoding.compression for level in slide.levels] == \
        ["jpeg", "jpeg", "png", "bmp"]
    reference = openslide.OpenSlide(slide_path)
    for level in (2, 3):
        size = reference.level_dimensions[level]
        ours = read_region(slide, 0, 0, *reference.dimensions, *size)
        assert _mad(ours, _on_fill(reference.read_region((0, 0), level, size))) == 0.0


def test_png_tiles_decode(tmp_path):
    """MRXS may store PNG or BMP24 images; both decode to the stored pixels."""
    from wsi_blueprint.formats import EncodedTile
    from wsi_blueprint.imaging.decode import decode
    pixels = numpy.random.default_rng(1).integers(0, 255, (32, 48, 3), numpy.uint8)
    for fmt, compression in (("PNG", "png"), ("BMP", "bmp")):
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, fmt)
        tile = EncodedTile(out.getvalue(), compression, 48, 32, 16, 16, "rgb",
                           source_x=16, source_y=8)
        assert numpy.array_equal(decode(tile), pixels[8:24, 16:32])


def test_the_catalog_folds_the_companion_folder_into_the_slide():
    from wsi_blueprint.formats import catalog

    def entry(slide_id, size=10):
        kind = "folder" if slide_id.endswith("/") else catalog.kind_of(slide_id, size)
        return {"id": slide_id, "size": size, "modified": None, "kind": kind}
    entries = [entry("a/X.mrxs"), entry("a/X/"), entry("a/X/Data0000.dat"),
               entry("a/X/Slidedat.ini"), entry("a/Y/"), entry("a/Y/Slidedat.ini"),
               entry("a/Z.mrxs.txt"), entry("a/Z.mrxs/")]
    assert [e["id"] for e in catalog.fold(entries)] == [
        "a/X.mrxs", "a/Y/", "a/Y/Slidedat.ini", "a/Z.mrxs.txt", "a/Z.mrxs/"]


def test_the_region_limit_counts_stored_images_not_their_pieces(mrxs_set, monkeypatch):
    from wsi_blueprint.errors import TooLarge
    from wsi_blueprint.imaging import region
    slide = open_through_library(f"file://{_folder(mrxs_set)}", "synthetic.mrxs")
    monkeypatch.setattr(region, "MAX_TILES", 4)
    assert read_region(slide, 0, 0, 952, 720, 119, 90).shape == (90, 119, 3)  # 12 pieces, 1 image
    assert read_region(slide, 0, 0, 952, 720, 238, 180).shape == (180, 238, 3)  # 4 images
    with pytest.raises(TooLarge):
        read_region(slide, 0, 0, 952, 720, 476, 360)  # 12 images
