"""Ventana BIF: a synthetic slide OpenSlide reads as 'ventana' (two scanned areas of
overlapping fields, joints numbered in a serpentine), served and compared with it.

Neighbouring fields overlap and are lighter or darker by turns, so a field placed a pixel off,
or the wrong one on top, shows in every comparison; the joints' overlaps differ and are
weighted by their confidence (one, with no confidence, claims 90 pixels).
"""

import openslide
import pytest

import synthetic
import vendor_checks
import vendor_slides
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.app import create_app
from wsi_blueprint.errors import CorruptSlide, UnsupportedFormat
from wsi_blueprint.formats.index import SlideIndex
from wsi_blueprint.formats.levels import LatticeTiles

NAME = "areas.bif"


@pytest.fixture(scope="module")
def source():
    return synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, source):
    folder = tmp_path_factory.mktemp("bif")
    vendor_slides.write_bif(str(folder / NAME), source)
    vendor_slides.write_bif(str(folder / "dp200.bif"), source,
                            encode=vendor_slides.encode_info(("LEFT", "DOWN")))
    vendor_slides.write_bif(str(folder / "stitched.tif"), source, stitched=True)
    return folder


reference, slide, client = vendor_checks.slide_fixtures(NAME)


def test_openslide_reads_the_synthetic_slide_as_ventana(reference):
    assert reference.properties["openslide.vendor"] == "ventana"
    # The advance is the tile less the weighted mean overlap: 240 x 244.
    assert reference.properties["openslide.region[1].x"] == str(4 * 240)
    assert reference.dimensions == (1000 + 240 + 256, 800)


def test_geometry_and_properties_match_openslide(slide, reference):
    vendor_checks.check_geometry(slide, reference)
    assert slide.index.objective_power == 40.0
    wanted = ("ventana.", "openslide.region")
    assert {k: v for k, v in slide.index.properties.items() if k.startswith(wanted)} == \
        {k: v for k, v in reference.properties.items() if k.startswith(wanted)}


def test_fields_are_placed_as_openslide_places_them(slide, reference):
    model = slide.level_model(1)
    assert isinstance(model, LatticeTiles) and model.lattice.split == 2
    assert model.lattice.advance == (256.0 - 16, 256.0 - 12)
    assert model.tiles_meeting(0, 0, 10, 10) == []  # area 0 starts 28 pixels down
    assert model.tiles_meeting(0, 28, 10, 40) == [(0, 0)]
    level0 = slide.level_model(0)
    assert not level0.stored(3, 0) and not level0.stored(4, 0)  # stored, outside the areas
    assert level0.stored(4, 1) and len(model.parts(2, 0)) == 2  # area 1's top row
    vendor_checks.check_levels(slide, reference)  # every level whole, exact
    assert SlideIndex.from_bytes(slide.index.to_bytes()) == slide.index  # the metadata cache


def test_dzi_iiif_and_thumbnail_match_openslide(client, reference):
    metadata = client.get(f"/slides/{NAME}").json
    assert (metadata["vendor"], metadata["width"]) == ("ventana", reference.dimensions[0])
    worst = vendor_checks.check_dzi(client, NAME, reference)
    regions = [vendor_checks.check_iiif_region(client, NAME, reference, box, width)
               for box, width in [((200, 250, 300, 200), 300),   # four fields' overlaps
                                  ((900, 0, 596, 500), 298),     # area 1 from level 1
                                  ((0, 0, 1496, 800), 374)]]     # all from level 2
    thumbnail = vendor_checks.check_thumbnail(client, NAME, reference)
    print(f"Ventana BIF: DZI worst {worst:.2f}, IIIF {[round(float(r), 2) for r in regions]},"
          f" thumbnail {thumbnail:.2f}")


def test_label_image_is_the_macro_and_the_thumbnail_is_read(slide, reference, client):
    assert slide.associated_names == ["macro", "thumbnail"]
    vendor_checks.check_associated(slide, reference)
    assert client.get(f"/slides/{NAME}/associated/macro").status_code == 403
    assert client.get(f"/slides/{NAME}/associated/thumbnail").status_code == 200


def test_dp200_left_and_down_joints_read_as_right_and_up(folder, slide, reference):
    with pytest.raises(openslide.OpenSlideError):
        openslide.OpenSlide(str(folder / "dp200.bif"))  # OpenSlide refuses these joints
    dp200 = open_slide(f"file://{folder}", "dp200.bif")
    assert [(level.width, level.height, level.lattice) for level in dp200.levels] == \
        [(level.width, level.height, level.lattice) for level in slide.levels]
    vendor_checks.check_levels(dp200, reference)


def test_a_stitched_ventana_tiff_is_a_plain_grid(folder):
    reference = openslide.OpenSlide(str(folder / "stitched.tif"))
    stitched = open_slide(f"file://{folder}", "stitched.tif")
    assert reference.properties["openslide.vendor"] == "ventana"
    vendor_checks.check_geometry(stitched, reference)
    assert all(level.lattice is None for level in stitched.levels)
    vendor_checks.check_levels(stitched, reference)


def test_the_slide_reads_the_same_from_s3(folder, slide, s3_server, s3_bucket):
    vendor_checks.check_reads_the_same_from_s3(folder / NAME, f"ventana/{NAME}", slide, s3_server,
                                               s3_bucket, [(0, 0), (5, 2)], "macro", "Ventana BIF")


@pytest.mark.parametrize("options, error, reason", [
    ({"encode": vendor_slides.encode_info(drop=' Pos-X="1000"')}, CorruptSlide,
     "numeric Pos-X"),
    ({"encode": vendor_slides.encode_info(drop='<AOI1 OriginX="1024" OriginY="256"/>')},
     CorruptSlide, "inconsistent area metadata"),
    ({"encode": vendor_slides.encode_info().replace('Tile2="2"', 'Tile2="99"')},
     CorruptSlide, "names tile 99 of 9"),
    ({"encode": vendor_slides.encode_info().replace('Direction="UP"', 'Direction="RIGHT"')},
     CorruptSlide, "not neighbours"),
    ({"encode": vendor_slides.encode_info().replace('OriginX="1024"', 'OriginX="1280"')},
     CorruptSlide, "reaching past the 6x3 stored tiles"),
    ({"encode": vendor_slides.encode_info().replace('Width="256"', 'Width="512"')},
     CorruptSlide, "another size"),
    ({"encode": vendor_slides.encode_info().replace('AOIScanned="1"', 'AOIScanned="0"')},
     UnsupportedFormat, "without a scanned area"),
    ({"descriptions": ("level=0 mag=40", "level=2 mag=20", "level=1 mag=10")}, CorruptSlide,
     "numbered [0, 2, 1]"),
    ({"descriptions": ("level=0 mag=40", "level=1 mag=40", "level=2 mag=10")}, CorruptSlide,
     "do not decrease"),
    ({"descriptions": ("level=0", "level=1 mag=20", "level=2 mag=10")}, CorruptSlide,
     "without a level number and magnification"),
])
def test_malformed_slides_are_refused_with_the_reason(tmp_path, source, options, error,
                                                      reason):
    vendor_slides.write_bif(str(tmp_path / "bad.bif"), source, **options)
    with pytest.raises(error, match=reason.replace("[", r"\[").replace("]", r"\]")) as raised:
        open_slide(f"file://{tmp_path}", "bad.bif")
    assert "bad.bif" in raised.value.message
    client = create_app({"WSI_STORE": f"file://{tmp_path}"}).test_client()
    response = client.get("/slides/bad.bif")
    assert response.status_code == raised.value.status and reason in response.json["message"]
