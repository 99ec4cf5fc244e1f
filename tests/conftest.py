"""Fixtures with real parts: a memcached process, an S3 server on loopback, counters."""

import os

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS
from helpers import Memcached, S3Server, testdata_path
from wsi_blueprint.counters import Counters


@pytest.fixture
def memcached():
    server = Memcached().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket in the session's S3 server."""
    return s3_server.new_bucket()


@pytest.fixture(scope="session")
def dicom_series(tmp_path_factory):
    """DICOM series written once per run from the shared SVS slides (formats/dicom_series.py):
    CMU-1-Small-Region with a Basic, an Extended and empty offset tables and TILED_SPARSE,
    small.svs with a Basic one. Each is a folder under `.root`, named as `.series` keys it."""
    from formats.dicom_series import write_set

    cmu, small = testdata_path("CMU-1-Small-Region.svs"), testdata_path("small.svs")
    return write_set(str(tmp_path_factory.mktemp("dicom-series")), cmu, small)


@pytest.fixture(scope="session")
def mrxs_set(tmp_path_factory):
    """`synthetic.mrxs` (VIMSLIDE_POSITION_BUFFER) and `stitched.mrxs` (StitchingIntensityLayer)
    in one folder, written once per session (formats/mrxs_slides.py)."""
    from formats.mrxs_slides import write_mrxs

    folder = str(tmp_path_factory.mktemp("mrxs"))
    return {"synthetic.mrxs": write_mrxs(folder, "synthetic"),
            "stitched.mrxs": write_mrxs(folder, "stitched", stitching=True)}


@pytest.fixture
def counters():
    return Counters()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(deploy/install-system-deps.sh installs it; tox runs that first)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
