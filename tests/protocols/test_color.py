"""Colour management through the routes, on slides in an S3 server (moto): the profile at
/slides/<id>/icc and named in the metadata and info.json, and the `srgb`, `embed`, `raw` and
`auto` modes against OpenSlide's pixels converted by ImageCms with the slide's profile."""

import io

import numpy as np
import openslide
import pytest
import tifffile
from flask import Flask
from PIL import Image, ImageCms

import icc_slides
from helpers import make_settings, testdata_path
from wsi_blueprint.bench import icc_profiles
from wsi_blueprint.blueprint import create_blueprint

TCGA, BOXES, CMU = "TCGA-CR-7395-J2K-33005.svs", "boxes.tiff", "CMU-1-Small-Region.svs"
STRONG, BIG = "strong.svs", "big.svs"  # synthetic: swapped primaries; the same as a 1.6 MB LUT
BROKEN = "broken.svs"  # a profile cut short: an ICC header LittleCMS cannot read further
# Per channel, 0-255: JPEG re-encoding at quality 80 of converted pixels against OpenSlide's
# decode converted by ImageCms (as between our renders and OpenSlide's elsewhere).
MAX_MEAN_DIFF = 5.0


@pytest.fixture(scope="module")
def slides(s3_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("icc")
    bucket = s3_server.new_bucket()
    profiles = {STRONG: icc_profiles.swapped_primaries(), BIG: icc_profiles.lut_profile(65),
                BROKEN: icc_profiles.swapped_primaries()[:200]}
    label_profile = icc_profiles.lut_profile(9, "Label profile")
    for name, profile in profiles.items():
        icc_slides.write_slide(str(folder / name), profile, label_profile)
    paths = {name: str(folder / name) for name in profiles}
    paths.update({name: testdata_path(name) for name in (TCGA, BOXES, CMU)})
    for name, path in paths.items():
        with open(path, "rb") as f:
            s3_server.put(bucket, name, f.read())
    return bucket, paths, label_profile


def s3_client(s3_server, bucket, **settings):
    app = Flask("host")
    app.register_blueprint(create_blueprint(settings=make_settings(
        store=f"s3://{bucket}", s3_endpoint_url=s3_server.endpoint, prefetch="off",
        show_label_and_macro=True, **settings)))
    return app.test_client()


@pytest.fixture(scope="module")
def client(s3_server, slides):
    return s3_client(s3_server, slides[0])


def stored_profile(path: str) -> bytes:
    with tifffile.TiffFile(path) as tif:
        return bytes(tif.pages[0].tags[icc_slides.ICC_TAG].value)


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


def openslide_srgb(path: str, profile: bytes, x: int, y: int, w: int, h: int,
                   level: int = 0) -> np.ndarray:
    """OpenSlide's read of the region converted to sRGB by ImageCms, perceptual intent."""
    with openslide.OpenSlide(path) as slide:
        region = slide.read_region((x, y), level, (w, h)).convert("RGB")
    converted = ImageCms.profileToProfile(
        region, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.PERCEPTUAL)
    return np.asarray(converted, float)


@pytest.mark.parametrize("name", [TCGA, BOXES, STRONG, BIG])
def test_the_profile_is_served_as_stored_with_an_etag(client, slides, name):
    response = client.get(f"/slides/{name}/icc")
    assert response.status_code == 200
    assert response.data == stored_profile(slides[1][name])
    assert response.mimetype == "application/vnd.iccprofile"
    assert response.cache_control.public and response.cache_control.max_age == 86400
    again = client.get(f"/slides/{name}/icc", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.data


@pytest.mark.parametrize("name,description,size", [
    (TCGA, "sRGB IEC61966-2.1", 3144), (BOXES, "sRGB built-in", 588),
    (BIG, "Swapped primaries, LUT (synthetic)", 1_651_432)])
def test_metadata_and_info_json_name_the_profile(client, name, description, size):
    url = f"http://localhost/slides/{name}/icc"
    expected = {"description": description, "size": size, "color_space": "RGB", "url": url}
    assert client.get(f"/slides/{name}").json["icc_profile"] == expected
    assert client.get(f"/iiif/3/{name}/info.json").json["wsi:iccProfile"] == expected
    assert client.get(f"/iiif/2/{name}/info.json").json["wsi:iccProfile"] == expected


def test_a_slide_without_a_profile_serves_every_mode_raw(client):
    response = client.get(f"/slides/{CMU}/icc")
    assert (response.status_code, response.json["error"]) == (404, "not_found")
    assert client.get(f"/slides/{CMU}").json["icc_profile"] is None
    assert "wsi:iccProfile" not in client.get(f"/iiif/3/{CMU}/info.json").json
    for path in [f"/dzi/{CMU}_files/12/1_2.jpeg", f"/dzi/{CMU}_files/11/1_1.png",
                 f"/iiif/3/{CMU}/100,200,700,500/350,/0/default.webp",
                 f"/slides/{CMU}/thumbnail?max_size=200", f"/tiles/{CMU}/0/2/3.jpg",
                 f"/slides/{CMU}/associated/label"]:
        answers = [client.get(f"{path}{'&' if '?' in path else '?'}color={mode}")
                   for mode in ("srgb", "embed", "raw", "auto")]
        assert len({(a.data, a.headers["ETag"]) for a in answers}) == 1, path


@pytest.mark.parametrize("name,path,box", [
    # TCGA's JPEG 2000 tiles are always decoded: a tile and a region across tiles. (OpenSlide
    # places its level 1, of downsample 2.0005, a fraction of a pixel off: level 0 only.)
    (TCGA, "/dzi/{}_files/13/2_1.jpeg", (512, 256, 256, 256)),
    (TCGA, "/iiif/3/{}/1000,600,700,500/700,500/0/default.jpg", (1000, 600, 700, 500)),
    (BOXES, "/iiif/3/{}/full/max/0/default.jpg", (0, 0, 300, 250)),
    # A stored JPEG tile of the synthetic slide (decoded to convert) and a resampled region.
    (STRONG, "/dzi/{}_files/10/1_1.jpeg", (256, 256, 256, 256)),
    (STRONG, "/iiif/3/{}/100,50,800,600/400,300/0/default.jpg", (100, 50, 800, 600)),
    (BIG, "/tiles/{}/0/2/0.jpg", (512, 0, 256, 256))])
def test_srgb_is_openslide_converted_with_the_slides_profile(client, slides, name, path, box):
    served = pixels(client.get(path.format(name) + "?color=srgb"))
    reference = openslide_srgb(slides[1][name], stored_profile(slides[1][name]), *box)
    if reference.shape != served.shape:
        reference = np.asarray(Image.fromarray(reference.astype(np.uint8)).resize(
            (served.shape[1], served.shape[0]), Image.LANCZOS), float)
    assert np.abs(served - reference).mean() < MAX_MEAN_DIFF
    if name in (STRONG, BIG):  # the profile moves every colour far: raw is not it
        raw = pixels(client.get(path.format(name) + "?color=raw"))
        assert np.abs(raw - reference).mean() > 8 * MAX_MEAN_DIFF


@pytest.mark.parametrize("path", ["/dzi/{}_files/10/1_1.jpeg", "/tiles/{}/0/3/2.jpg",
                                  "/iiif/3/{}/512,256,256,256/256,256/0/default.jpg",
                                  "/dzi/{}_files/9/0_0.jpeg",
                                  "/iiif/3/{}/0,0,1024,768/300,/0/default.jpg"])
def test_embed_is_the_raw_image_plus_exactly_the_profile(client, slides, path):
    """Stored tiles (the first three) pass through as before; renders too, profile added."""
    url = path.format(STRONG)
    embedded, raw = client.get(url + "?color=embed"), client.get(url + "?color=raw")
    assert Image.open(io.BytesIO(embedded.data)).info["icc_profile"] == \
        stored_profile(slides[1][STRONG])
    assert icc_slides.without_icc(embedded.data) == raw.data
    assert embedded.headers["ETag"] != raw.headers["ETag"]


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_png_and_webp_carry_the_profile_in_embed_mode(client, slides, fmt):
    response = client.get(f"/iiif/3/{STRONG}/0,0,512,512/256,/0/default.{fmt}?color=embed")
    image = Image.open(io.BytesIO(response.data))
    assert image.format == fmt.upper()
    assert image.info["icc_profile"] == stored_profile(slides[1][STRONG])


def test_auto_embeds_small_profiles_and_converts_large_ones(client):
    for name, same_as in [(STRONG, "embed"), (BIG, "srgb"), (TCGA, "raw"), (BOXES, "raw")]:
        url = f"/dzi/{name}_files/9/0_0.jpeg"
        auto = client.get(url + "?color=auto")
        assert auto.data == client.get(f"{url}?color={same_as}").data
        assert client.get(url).headers["ETag"] == auto.headers["ETag"]  # WSI_COLOR=auto


@pytest.mark.parametrize("name,path", [(TCGA, "/dzi/{}_files/13/2_1.jpeg"),
                                       (BOXES, "/tiles/{}/0/1/1.jpg")])
def test_srgb_profiles_are_not_applied(client, name, path):
    """TCGA's and boxes.tiff's profiles are sRGB: converting would change no colour by more
    than 1, so srgb and auto serve the image as stored (boxes' Deflate tile as raw does)."""
    url = path.format(name)
    raw = client.get(url + "?color=raw")
    for mode in ("srgb", "auto"):
        answer = client.get(f"{url}?color={mode}")
        assert (answer.data, answer.headers["ETag"]) == (raw.data, raw.headers["ETag"])
    assert "icc_profile" in Image.open(io.BytesIO(client.get(url + "?color=embed").data)).info


def test_a_profile_littlecms_cannot_read_is_ignored_by_auto_and_refused_by_srgb(client):
    url = f"/dzi/{BROKEN}_files/10/1_1.jpeg"
    assert client.get(url + "?color=auto").data == client.get(url + "?color=raw").data
    response = client.get(url + "?color=srgb")
    assert (response.status_code, response.json["error"]) == (422, "corrupt_slide")


def test_grey_qualities_are_converted_not_embedded(client):
    base = f"/iiif/3/{STRONG}/0,0,1024,768/256,/0"
    gray = client.get(f"{base}/gray.png?color=embed")
    assert "icc_profile" not in Image.open(io.BytesIO(gray.data)).info
    assert gray.data == client.get(f"{base}/gray.png?color=srgb").data
    assert gray.data != client.get(f"{base}/gray.png?color=raw").data


def test_label_and_macro_use_their_own_profile_or_none(client, slides):
    label_profile = slides[2]
    with openslide.OpenSlide(slides[1][STRONG]) as slide:
        label = slide.associated_images["label"].convert("RGB")
    expected = np.asarray(ImageCms.profileToProfile(
        label, ImageCms.ImageCmsProfile(io.BytesIO(label_profile)),
        ImageCms.createProfile("sRGB"), renderingIntent=ImageCms.Intent.PERCEPTUAL), float)
    served = pixels(client.get(f"/slides/{STRONG}/associated/label?format=png&color=srgb"))
    assert np.abs(served - expected).mean() < 1.0  # lossless: LittleCMS rounding only
    embedded = client.get(f"/slides/{STRONG}/associated/label?format=png&color=embed")
    assert Image.open(io.BytesIO(embedded.data)).info["icc_profile"] == label_profile
    for name in ("macro", "thumbnail"):  # no profile of their own: the slide's is not theirs
        url = f"/slides/{STRONG}/associated/{name}"
        assert client.get(url + "?color=srgb").data == client.get(url + "?color=raw").data


def test_the_setting_is_the_default_and_a_bad_mode_is_refused(s3_server, slides):
    client = s3_client(s3_server, slides[0], color="raw")
    url = f"/dzi/{STRONG}_files/10/1_1.jpeg"
    assert client.get(url).data == client.get(url + "?color=raw").data
    assert client.get(url).data != client.get(url + "?color=srgb").data
    response = client.get(url + "?color=p3")
    assert (response.status_code, response.json["error"]) == (400, "bad_request")
    assert make_settings(color=" SRGB ").color == "srgb"
    with pytest.raises(ValueError, match="WSI_COLOR"):
        make_settings(color="display-p3")


def test_a_profile_read_from_a_replaced_object_comes_from_its_new_version(s3_server, slides):
    """The slide is open when its object is replaced: the 1.6 MB profile's uncached blocks
    meet the new ETag, and the route answers with the new slide's profile, not a mix."""
    bucket, paths, _ = slides
    with open(paths[BIG], "rb") as f:
        s3_server.put(bucket, "replaced.svs", f.read())
    client = s3_client(s3_server, bucket, block_size="64K")
    assert client.get("/slides/replaced.svs").json["icc_profile"]["size"] == 1_651_432
    with open(paths[STRONG], "rb") as f:
        s3_server.put(bucket, "replaced.svs", f.read())
    response = client.get("/slides/replaced.svs/icc")
    assert response.status_code == 200
    assert response.data == stored_profile(paths[STRONG])
