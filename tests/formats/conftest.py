"""Fixtures of the formats tests: block readers over real stores, synthetic slides."""

import dataclasses
import os

import pytest

import synthetic
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats import Slide


@pytest.fixture
def real_slide():
    """Opens a shared test slide through the file store (skips when it is absent)."""
    def open_real(name: str, counters: Counters | None = None, **settings) -> Slide:
        folder = os.path.dirname(testdata_path(name))
        return open_slide("file://" + folder, name, counters, **settings)
    return open_real


@dataclasses.dataclass
class SyntheticSet:
    folder: str
    stored: dict  # file name -> {'levels': [pixels...], associated name: pixels}

    def open(self, name: str, counters: Counters | None = None) -> Slide:
        return open_slide("file://" + self.folder, name, counters)


@pytest.fixture(scope="session")
def synthetic_slides(tmp_path_factory) -> SyntheticSet:
    """Written once per session; small (level 0 at most 2220 x 2967) to keep tests fast."""
    source = synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))
    small = source[:1200, :1000]
    folder = str(tmp_path_factory.mktemp("synthetic-slides"))
    stored = {}
    for codec in ("jpeg-rgb", "jpeg-ycbcr"):
        stored[f"aperio-{codec}.svs"] = synthetic.write_aperio(
            f"{folder}/aperio-{codec}.svs", source, codec)
    for codec in ("j2k-33003", "j2k-33005"):
        stored[f"aperio-{codec}.svs"] = synthetic.write_aperio(
            f"{folder}/aperio-{codec}.svs", small, codec)
    stored["subifd-bigtiff.tiff"] = {"levels": synthetic.write_pyramid(
        f"{folder}/subifd-bigtiff.tiff", source, "jpeg", (1, 3, 9), tile=128, subifds=True,
        bigtiff=True)}
    stored["ome-subifd.ome.tif"] = {"levels": synthetic.write_pyramid(
        f"{folder}/ome-subifd.ome.tif", small, "zlib", (1, 2, 4), subifds=True, bigtiff=True,
        ome=True)}
    for compression in ("zlib", "lzw", "zstd", "webp", "none"):
        stored[f"pyramid-{compression}.tiff"] = {"levels": synthetic.write_pyramid(
            f"{folder}/pyramid-{compression}.tiff", small[:700], compression, (1, 2, 5))}
    stored["sparse.tiff"] = {"levels": synthetic.write_pyramid(
        f"{folder}/sparse.tiff", small[:700], "zlib", (1, 2), sparse=(1, 1))}
    return SyntheticSet(folder, stored)
