"""The vendor slides served through the app, checked against OpenSlide reading the same file.

Tolerances are those of the real-slide tests: a stored level at whole-pixel positions matches
exactly (mean difference at most 1 after JPEG decoding by the same library), a resampled
image (DZI levels between stored ones, IIIF sizes, thumbnails) within a mean of 5. Where
OpenSlide leaves a region transparent (no tile there) it is composited over the slide's
background colour, as its DeepZoomGenerator and get_thumbnail do.
"""

import io
import xml.etree.ElementTree as ET

import numpy
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from slide_access import open_slide
from tile_decoder import assemble, decode
from wsi_blueprint.app import create_app
from wsi_blueprint.counters import Counters
from wsi_blueprint.imaging.region import read_region

EXACT_MAD = 1.0
RESAMPLED_MAD = 5.0


def check_reads_the_same_from_s3(path, key: str, slide, s3_server, bucket: str,
                                 coords: list, associated: str, label: str) -> None:
    """The slide file at `path`, put into the bucket under `key`, reads from S3 as `slide` reads
    it locally: the same index, stored tiles at `coords` and `associated` image."""
    s3_server.put(bucket, key, path.read_bytes())
    counters = Counters()
    remote = open_slide(f"s3://{bucket}", key, counters, s3_endpoint_url=s3_server.endpoint)
    assert remote.index == slide.index
    opened = counters.get("store_requests")
    assert remote.read_tiles(0, coords) == slide.read_tiles(0, coords)
    assert remote.read_associated(associated) == slide.read_associated(associated)
    print(f"{label} over S3: {opened:.0f} requests to open, "
          f"{counters.get('store_requests'):.0f} in all")


def slide_fixtures(name: str):
    """Module fixtures `reference` (OpenSlide), `slide` (ours) and `client` (the app) over the
    slide `name` in the test module's `folder` fixture."""

    @pytest.fixture(scope="module")
    def reference(folder):
        return openslide.OpenSlide(str(folder / name))

    @pytest.fixture(scope="module")
    def slide(folder):
        return open_slide(f"file://{folder}", name)

    @pytest.fixture(scope="module")
    def client(folder):
        return create_app({"WSI_STORE": f"file://{folder}"}).test_client()

    return reference, slide, client


def opaque(region: Image.Image, background: str = "ffffff") -> numpy.ndarray:
    """An RGBA read of OpenSlide over its background colour, as float RGB."""
    canvas = Image.new("RGB", region.size, "#" + background)
    canvas.paste(region, None, region)
    return numpy.asarray(canvas, float)


def png(response) -> numpy.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    return numpy.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), float)


def background(reference: openslide.OpenSlide) -> str:
    return reference.properties.get(openslide.PROPERTY_NAME_BACKGROUND_COLOR, "ffffff")


def check_geometry(slide, reference: openslide.OpenSlide) -> None:
    index = slide.index
    assert index.format == reference.properties["openslide.vendor"]
    assert [(level.width, level.height) for level in index.levels] == \
        list(reference.level_dimensions)
    assert [level.downsample for level in index.levels] == \
        [round(d, 6) for d in reference.level_downsamples]
    assert index.mpp == (float(reference.properties["openslide.mpp-x"]),
                         float(reference.properties["openslide.mpp-y"]))
    assert slide.associated_names == sorted(reference.associated_images)
    for name, image in index.associated.items():
        assert (image.width, image.height) == reference.associated_images[name].size


def check_stored_tiles(slide, reference: openslide.OpenSlide) -> int:
    """Every stored tile of every level, decoded, against read_region at its place; returns
    how many cells of the levels' grids store no tile (they read as the fill colour)."""
    colour = background(reference)
    gaps = 0
    for number, level in enumerate(slide.levels):
        model = slide.level_model(number)
        columns, rows = model.grid
        cells = [(c, r) for r in range(rows) for c in range(columns)]
        stored = [cell for cell in cells if model.stored(*cell)]
        gaps += len(cells) - len(stored)
        for tile in slide.read_tiles(number, stored):
            assert not tile.sparse
            location = (round(tile.x * level.downsample), round(tile.y * level.downsample))
            pixels = decode(tile)[..., :3].astype(float)
            expected = opaque(reference.read_region(
                location, number, (pixels.shape[1], pixels.shape[0])), colour)
            assert numpy.abs(pixels - expected).mean() <= EXACT_MAD, (number, tile.x, tile.y)
    return gaps


def check_levels(slide, reference: openslide.OpenSlide) -> None:
    """Each whole level, read at its own scale, against OpenSlide's read of that level."""
    width, height = reference.dimensions
    colour = background(reference)
    for number, size in enumerate(reference.level_dimensions):
        ours = read_region(slide, 0, 0, width, height, *size).astype(float)
        theirs = opaque(reference.read_region((0, 0), number, size), colour)
        assert numpy.abs(ours - theirs).mean() <= EXACT_MAD, number


def check_dzi(client, slide_id: str, reference: openslide.OpenSlide) -> float:
    """Every tile of every DZI level against DeepZoomGenerator; the worst mean difference."""
    xml = ET.fromstring(client.get(f"/dzi/{slide_id}.dzi").data)
    generator = DeepZoomGenerator(reference, tile_size=int(xml.get("TileSize")),
                                  overlap=int(xml.get("Overlap")))
    worst = 0.0
    for level in range(generator.level_count):
        columns, rows = generator.level_tiles[level]
        for column in range(columns):
            for row in range(rows):
                ours = png(client.get(f"/dzi/{slide_id}_files/{level}/{column}_{row}.png"))
                theirs = generator.get_tile(level, (column, row)).convert("RGB")
                if theirs.size != (ours.shape[1], ours.shape[0]):
                    # OpenSlide's aspect-keeping shrink rounds some edge tiles a pixel short.
                    assert abs(theirs.width - ours.shape[1]) <= 1
                    assert abs(theirs.height - ours.shape[0]) <= 1
                    theirs = theirs.resize((ours.shape[1], ours.shape[0]), Image.LANCZOS)
                if min(ours.shape[:2]) >= 16:
                    mad = numpy.abs(ours - numpy.asarray(theirs, float)).mean()
                    assert mad <= RESAMPLED_MAD, (level, column, row, mad)
                    worst = max(worst, mad)
    return worst


def check_iiif_region(client, slide_id: str, reference: openslide.OpenSlide,
                      box: tuple[int, int, int, int], width: int) -> float:
    x, y, w, h = box
    ours = png(client.get(f"/iiif/3/{slide_id}/{x},{y},{w},{h}/{width},/0/default.png"))
    # From the level OpenSlide would read (the synthetic levels are plain subsamplings).
    level = reference.get_best_level_for_downsample(w / width)
    downsample = reference.level_downsamples[level]
    size = (round(w / downsample), round(h / downsample))
    theirs = Image.fromarray(opaque(reference.read_region((x, y), level, size),
                                    background(reference)).astype(numpy.uint8))
    theirs = theirs.resize((ours.shape[1], ours.shape[0]), Image.LANCZOS)
    mad = numpy.abs(ours - numpy.asarray(theirs, float)).mean()
    assert mad <= (EXACT_MAD if width == w else RESAMPLED_MAD), (box, width, mad)
    return mad


def check_thumbnail(client, slide_id: str, reference: openslide.OpenSlide) -> float:
    ours = png(client.get(f"/slides/{slide_id}/thumbnail?max_size=200&format=png"))
    theirs = numpy.asarray(reference.get_thumbnail((200, 200)).convert("RGB"), float)
    assert ours.shape == theirs.shape
    mad = numpy.abs(ours - theirs).mean()
    assert mad <= RESAMPLED_MAD, mad
    return mad


def check_associated(slide, reference: openslide.OpenSlide) -> None:
    for name in slide.associated_names:
        image = slide.index.associated[name]
        pixels = assemble(slide.read_associated(name), image.width, image.height)
        expected = numpy.asarray(reference.associated_images[name].convert("RGB"), float)
        assert numpy.abs(pixels[..., :3] - expected).mean() <= EXACT_MAD, name
