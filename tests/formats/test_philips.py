"""Philips TIFF: a synthetic slide OpenSlide reads as 'philips', served and compared with it.

The slide has padded level directories (the true sizes come from the XML's pixel spacings),
unstored tiles (byte count and offset 0) that must read as white, a label directory and a
macro kept as base64 in the XML.
"""

import numpy
import pytest

import synthetic
import vendor_checks
import vendor_slides
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.app import create_app
from wsi_blueprint.errors import CorruptSlide, UnsupportedFormat
from wsi_blueprint.imaging.region import read_region

NAME = "philips.tiff"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("philips")
    source = synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))
    vendor_slides.write_philips(str(folder / NAME), source[1000:1768, 600:1624])
    return folder


reference, slide, client = vendor_checks.slide_fixtures(NAME)


def test_openslide_reads_the_synthetic_slide_as_philips(reference):
    assert reference.properties["openslide.vendor"] == "philips"
    # The reduced directories are padded to whole tiles; the XML says the true sizes.
    assert reference.level_dimensions == ((1024, 768), (512, 384), (256, 192))


def test_geometry_and_properties_match_openslide(slide, reference):
    vendor_checks.check_geometry(slide, reference)
    index = slide.index
    assert index.objective_power == float(reference.properties["openslide.objective-power"])
    philips = {k: v for k, v in reference.properties.items() if k.startswith("philips.")}
    assert {k: v for k, v in index.properties.items() if k.startswith("philips.")} == philips
    # patient identity, as the label: served only where the label is
    assert index.phi_properties == ("philips.PIM_DP_UFS_BARCODE",)
    assert "tiff.ImageDescription" not in index.properties  # the XML, given field by field
    assert index.properties["tiff.Software"] == "Philips DP v1.0"


def test_unstored_tiles_are_gaps_read_as_white(slide, reference):
    model = slide.level_model(0)
    assert not model.stored(3, 0) and not model.stored(0, 2) and model.stored(1, 2)
    assert not slide.level_model(1).stored(1, 0)
    gaps = vendor_checks.check_stored_tiles(slide, reference)
    assert gaps == sum(len(v) for v in vendor_slides.PHILIPS_MISSING.values())
    pixels = read_region(slide, 768, 0, 256, 256, 256, 256)  # tile (3, 0): unstored
    assert (pixels == 255).all()


def test_dzi_iiif_and_thumbnail_match_openslide(client, reference):
    metadata = client.get(f"/slides/{NAME}").json
    assert (metadata["vendor"], metadata["width"]) == ("philips", reference.dimensions[0])
    worst = vendor_checks.check_dzi(client, NAME, reference)
    regions = [vendor_checks.check_iiif_region(client, NAME, reference, box, width)
               for box, width in [((700, 0, 324, 300), 324),     # across an unstored tile
                                  ((100, 100, 800, 600), 400),   # from level 1
                                  ((0, 0, 1024, 768), 200)]]     # from level 2
    thumbnail = vendor_checks.check_thumbnail(client, NAME, reference)
    print(f"Philips: DZI worst {worst:.2f}, IIIF {[round(float(r), 2) for r in regions]}, "
          f"thumbnail {thumbnail:.2f}")


def test_label_and_macro_are_read_but_not_served_by_default(slide, reference, client, folder):
    # The label is a directory; the macro only a base64 JPEG in the XML, read where it lies.
    assert slide.index.associated["macro"].layout.base64
    assert not slide.index.associated["label"].layout.base64
    vendor_checks.check_associated(slide, reference)
    assert client.get(f"/slides/{NAME}/associated/label").status_code == 403
    barcode = "philips.PIM_DP_UFS_BARCODE"
    assert barcode not in client.get(f"/slides/{NAME}").json["properties"]
    shown = create_app({"WSI_STORE": f"file://{folder}", "WSI_SHOW_LABEL_AND_MACRO": True})
    assert shown.test_client().get(f"/slides/{NAME}/associated/macro").status_code == 200
    assert shown.test_client().get(f"/slides/{NAME}").json["properties"][barcode] == \
        reference.properties[barcode]


def test_the_slide_reads_the_same_from_s3(folder, slide, s3_server, s3_bucket):
    vendor_checks.check_reads_the_same_from_s3(folder / NAME, f"cases/{NAME}", slide, s3_server,
                                               s3_bucket, [(0, 0), (3, 0), (3, 2)], "label",
                                               "Philips")


def _variant(folder, name: str, xml: str) -> str:
    source = numpy.full((512, 512, 3), 200, numpy.uint8)
    vendor_slides.write_philips(str(folder / name), source, xml=xml, factors=(1, 2))
    return name


@pytest.mark.parametrize("xml, error, reason", [
    (vendor_slides.philips_xml([0.00025]), CorruptSlide, "1 pixel spacings for 2 levels"),
    (vendor_slides.philips_xml([0.00025, 0.0005], wsi_images=2), UnsupportedFormat,
     "2 WSI images"),
    (vendor_slides.philips_xml([0.00025, 0.0005]).replace("&quot;0.0005&quot; ", ""),
     CorruptSlide, "not two numbers"),
    (vendor_slides.philips_xml([0.00025, 0.0005]).replace(">WSI<", ">OTHER<"),
     UnsupportedFormat, "0 WSI images"),
])
def test_malformed_xml_is_refused_with_the_reason(tmp_path, xml, error, reason):
    name = _variant(tmp_path, "bad.tiff", xml)
    with pytest.raises(error, match=reason) as raised:
        open_slide(f"file://{tmp_path}", name)
    assert name in raised.value.message


def test_malformed_slides_answer_json_errors(tmp_path):
    _variant(tmp_path, "spacing.tiff", vendor_slides.philips_xml([0.00025]))
    client = create_app({"WSI_STORE": f"file://{tmp_path}"}).test_client()
    response = client.get("/slides/spacing.tiff")
    assert response.status_code == 422 and "pixel spacings" in response.json["message"]
