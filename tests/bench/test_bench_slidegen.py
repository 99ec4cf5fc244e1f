"""Generated benchmark slides: the Aperio layout, readable by OpenSlide and by this package,
and the same tissue as another writer's pyramid."""

import io
import os

import numpy
import PIL.Image
import pytest
import tifffile

from helpers import TESTDATA
from wsi_blueprint.bench.derived_cpu import open_reader
from wsi_blueprint.bench.slidegen import (SlideSpec, VirtualSlide, ensure_slides,
                                          source_mosaic)
from wsi_blueprint.bench.traces import slide_info_from_file
from wsi_blueprint.reader.request import RegionRequest


def test_aperio_layout(small_slides):
    slide = small_slides[0]
    with tifffile.TiffFile(slide.path) as tif:
        pages = list(tif.pages)
        assert pages[0].description.startswith("Aperio")
        assert "AppMag = 40" in pages[0].description and "MPP = 0.2500" in pages[0].description
        tiled = [p for p in pages if p.is_tiled]
        assert [p.shape[:2] for p in tiled] == [(3000, 4000), (750, 1000)]
        for page in tiled:
            assert page.compression == 7 and page.photometric == 2  # JPEG, RGB
            assert page.tilewidth == page.tilelength == 240 and page.jpegtables
            # abbreviated streams: the tables live in JPEGTables only
            fh = tif.filehandle
            fh.seek(page.dataoffsets[0])
            stream = fh.read(page.databytecounts[0])
            assert stream[:2] == b"\xff\xd8" and b"\xff\xdb" not in stream[:200]
        assert not pages[1].is_tiled  # the thumbnail, second as Aperio writes it


def test_generation_is_cached(small_slides, tmp_path):
    spec = SlideSpec("x/one.svs", 1000, 800, 5)
    slides, _ = ensure_slides((spec,), str(tmp_path), TESTDATA, log=lambda *a: None)
    mtime = os.path.getmtime(slides[0].path)
    again, _ = ensure_slides((spec,), str(tmp_path), TESTDATA, log=lambda *a: None)
    assert again[0].path == slides[0].path and os.path.getmtime(again[0].path) == mtime


def test_pixels_are_the_stored_tiles(small_slides):
    """Level 0 decodes to the virtual slide's pixels (JPEG at quality 30: close, not equal)."""
    source, _ = source_mosaic(TESTDATA if os.path.isdir(TESTDATA) and os.path.isfile(
        os.path.join(TESTDATA, "CMU-1-Small-Region.svs")) else None)
    spec = SlideSpec("case-t/A1.svs", 4000, 3000, 1)
    virtual = VirtualSlide(spec, source)
    with tifffile.TiffFile(small_slides[0].path) as tif:
        level0 = tif.pages[0].asarray()
    for col, row in ((0, 0), (8, 6), (16, 12)):
        want = virtual.window(1, col * 240, row * 240, 240, 240).astype(int)
        got = level0[row * 240:(row + 1) * 240, col * 240:(col + 1) * 240].astype(int)
        h, w = got.shape[:2]
        assert numpy.abs(got - want[:h, :w]).mean() < 12


def test_opens_in_openslide_and_in_the_package(small_slides):
    openslide = pytest.importorskip("openslide")
    slide = openslide.OpenSlide(small_slides[0].path)
    assert slide.properties["openslide.vendor"] == "aperio"
    assert slide.level_dimensions == ((4000, 3000), (1000, 750))
    region = numpy.asarray(slide.read_region((1000, 1000), 0, (64, 64)).convert("RGB"))
    assert region.std() > 0  # real pixels, not a blank
    info = slide_info_from_file(small_slides[0].path, "case-t/A1.svs")
    assert (info.geometry.width, info.geometry.height, info.geometry.tile_size) == (
        4000, 3000, 240)
    assert info.native == (1, 4)
    assert len(info.tissue) > 100  # the thumbnail shows tissue on glass
    xs = [x for x, _ in info.tissue]
    assert 0 <= min(xs) and max(xs) <= 4000


def test_pyramid_layout_as_another_writer_lays_it_out(tmp_path):
    """The same tissue as a BigTIFF pyramid: 512 px YCbCr JPEG tiles, a level at every
    halving in level 0's SubIFDs; the package reads it as such and serves its pixels."""
    spec = SlideSpec("p/one.tiff", 3000, 2000, 5, "pyramid")
    assert spec.factors() == [1, 2]
    slides, _ = ensure_slides((spec,), str(tmp_path), TESTDATA, log=lambda *a: None)
    path = slides[0].path
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and len(tif.pages) == 1
        first = tif.pages.first
        levels = [first, *first.pages]
        assert [p.shape[:2] for p in levels] == [(2000, 3000), (1000, 1500)]
        for page in levels:
            assert page.compression == 7 and page.photometric == 6  # JPEG, YCbCr
            assert page.subsampling == (2, 2) and page.tilewidth == page.tilelength == 512
        level0 = first.asarray()
    info = slide_info_from_file(path, "p/one.tiff")
    assert (info.geometry.width, info.geometry.tile_size, info.native) == (3000, 512, (1, 2))
    reader = open_reader(path)
    assert reader.info().format == "generic-tiff"
    served = reader.region(RegionRequest(512, 512, 512, 512, 512, 512, "png", 90))
    pixels = numpy.asarray(PIL.Image.open(io.BytesIO(served)).convert("RGB")).astype(int)
    assert pixels.std() > 0
    assert numpy.abs(pixels - level0[512:1024, 512:1024]).mean() < 1
