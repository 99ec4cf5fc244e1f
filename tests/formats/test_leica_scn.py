"""Leica SCN: a synthetic collection OpenSlide reads as 'leica' (a macro and two regions),
served and compared with it.

The regions' edge tiles are padded with black: a wrong clip shows as black bands on the white
background between regions.
"""

import openslide
import pytest

import synthetic
import vendor_checks
import vendor_slides
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.app import create_app
from wsi_blueprint.errors import CorruptSlide, NotFound, UnsupportedFormat
from wsi_blueprint.formats.index import SlideIndex
from wsi_blueprint.formats.levels import PlacedTiles
from wsi_blueprint.imaging.region import read_region

NAME = "collection.scn"


@pytest.fixture(scope="module")
def source():
    return synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, source):
    folder = tmp_path_factory.mktemp("scn")
    vendor_slides.write_scn(str(folder / NAME), source)
    return folder


reference, slide, client = vendor_checks.slide_fixtures(NAME)


def test_openslide_reads_the_synthetic_collection_as_leica(reference):
    assert reference.properties["openslide.vendor"] == "leica"
    assert reference.dimensions == vendor_slides.SCN_CANVAS
    assert reference.properties["openslide.region[1].x"] == "650"


def test_geometry_and_properties_match_openslide(slide, reference):
    vendor_checks.check_geometry(slide, reference)
    assert slide.index.objective_power == 20.0
    theirs = {k: v for k, v in reference.properties.items()
              if k.startswith(("leica.", "openslide.region", "openslide.bounds"))}
    ours = {k: v for k, v in slide.index.properties.items()
            if k.startswith(("leica.", "openslide.region", "openslide.bounds"))}
    assert ours == theirs
    # patient identity, as the label: served only where the label is
    assert slide.index.phi_properties == ("leica.barcode",)
    assert "leica.barcode" in theirs


def test_regions_are_placed_tiles_on_the_collection_canvas(slide, reference):
    model = slide.level_model(0)
    assert isinstance(model, PlacedTiles) and model.grid == (5, 4)
    assert model.tiles_meeting(0, 0, 100, 80) == []  # the background before region 0
    assert model.origin(0, 0) == (650, 600)           # region 1 first: painted under 0
    assert SlideIndex.from_bytes(slide.index.to_bytes()) == slide.index  # the metadata cache
    vendor_checks.check_stored_tiles(slide, reference)
    between = read_region(slide, 620, 80, 200, 200, 200, 200)  # right of region 0: no tile
    assert (between == 255).all()
    edge = read_region(slide, 100, 80, 512, 384 + 40, 512, 424)  # region 0 and below it
    assert (edge[384:] == 255).all()                  # its padded edge tiles stay clipped
    with pytest.raises(NotFound):
        slide.read_tiles(0, [(3, 1)])  # a cell of the canvas past the last tile


def test_dzi_iiif_and_thumbnail_match_openslide(client, reference):
    metadata = client.get(f"/slides/{NAME}").json
    assert (metadata["vendor"], metadata["width"]) == ("leica", reference.dimensions[0])
    worst = vendor_checks.check_dzi(client, NAME, reference)
    regions = [vendor_checks.check_iiif_region(client, NAME, reference, box, width)
               for box, width in [((600, 560, 300, 200), 300),   # a gap and region 1
                                  ((0, 0, 1200, 1000), 300),     # the whole canvas, level 2
                                  ((90, 70, 600, 420), 300)]]    # region 0, level 1
    thumbnail = vendor_checks.check_thumbnail(client, NAME, reference)
    print(f"Leica SCN: DZI worst {worst:.2f}, IIIF {[round(float(r), 2) for r in regions]}, "
          f"thumbnail {thumbnail:.2f}")


def test_overlapping_regions_show_the_first_on_top_as_in_openslide(tmp_path, source):
    # Region 1 is moved over region 0's lower right corner; their pixels differ there.
    regions = (vendor_slides.SCN_REGIONS[0], ((400, 300), (400, 300), (1700, 1500)))
    vendor_slides.write_scn(str(tmp_path / "overlap.scn"), source, placed=regions)
    reference = openslide.OpenSlide(str(tmp_path / "overlap.scn"))
    vendor_checks.check_levels(open_slide(f"file://{tmp_path}", "overlap.scn"), reference)


def test_a_single_region_keeps_its_tile_table_in_the_file(tmp_path, source):
    # 16 px tiles: more than the index copies inline (INLINE_LIMIT).
    vendor_slides.write_scn(str(tmp_path / "one.scn"), source, tile=16, levels=2,
                            placed=vendor_slides.SCN_REGIONS[:1])
    one = open_slide(f"file://{tmp_path}", "one.scn")
    offsets = one.levels[0].layout.offsets
    assert offsets.count == 32 * 24 and offsets.values is None  # referenced, not copied
    vendor_checks.check_levels(one, openslide.OpenSlide(str(tmp_path / "one.scn")))


def test_the_macro_is_the_image_covering_the_collection(slide, reference, client):
    assert slide.associated_names == ["macro"]
    vendor_checks.check_associated(slide, reference)
    assert client.get(f"/slides/{NAME}/associated/macro").status_code == 403


def test_the_collection_reads_the_same_from_s3(folder, slide, s3_server, s3_bucket):
    vendor_checks.check_reads_the_same_from_s3(folder / NAME, NAME, slide, s3_server, s3_bucket,
                                               [(0, 0), (2, 1), (4, 0)], "macro", "Leica SCN")


@pytest.mark.parametrize("options, error, reason", [
    ({"second_illumination": "fluorescence"}, UnsupportedFormat, "fluorescence"),
    ({"z": "1"}, UnsupportedFormat, "z-stacks"),
    ({"levels": 2, "drop": '<dimension sizeX="200" sizeY="150" r="1" ifd="4" z="0"/>'},
     UnsupportedFormat, "dissimilar main images"),
    ({"drop": 'offsetX="50000" '}, CorruptSlide, "whole-number offsetX"),
    ({"drop": 'ifd="4" '}, CorruptSlide, "whole-number ifd"),
])
def test_malformed_collections_are_refused_with_the_reason(tmp_path, source, options, error,
                                                           reason):
    vendor_slides.write_scn(str(tmp_path / "bad.scn"), source, **options)
    with pytest.raises(error, match=reason) as raised:
        open_slide(f"file://{tmp_path}", "bad.scn")
    assert "bad.scn" in raised.value.message
    client = create_app({"WSI_STORE": f"file://{tmp_path}"}).test_client()
    response = client.get("/slides/bad.scn")
    assert response.status_code == raised.value.status and reason in response.json["message"]


def test_a_directory_the_xml_names_past_the_file_is_corrupt(tmp_path, source):
    vendor_slides.write_scn(str(tmp_path / "bad.scn"), source)
    data = (tmp_path / "bad.scn").read_bytes().replace(b'ifd="6"', b'ifd="9"')
    (tmp_path / "bad.scn").write_bytes(data)
    with pytest.raises(CorruptSlide, match="directory 9 of 7"):
        open_slide(f"file://{tmp_path}", "bad.scn")
