"""Fixtures of the benchmark tests: small generated slides, the simulated S3 serving them."""

import os

import pytest

from helpers import TESTDATA
from wsi_blueprint.bench.s3sim import SimulatedS3
from wsi_blueprint.bench.slidegen import SlideSpec, ensure_slides

# Small, so the tests stay fast: two levels (1, 1/4), the Aperio layout of the real ones.
SMALL_CASE = (SlideSpec("case-t/A1.svs", 4000, 3000, 1), SlideSpec("case-t/B1.svs", 3000, 2400, 2))


@pytest.fixture(scope="session")
def small_slides(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bench-cache")
    slides, pixels = ensure_slides(SMALL_CASE, str(cache), TESTDATA, log=lambda *a: None)
    return slides


@pytest.fixture(scope="session")
def store_root(small_slides, tmp_path_factory):
    """A bucket `slides` of links to the small slides, plus a plain object to poke at."""
    root = tmp_path_factory.mktemp("s3-root")
    bucket = root / "slides"
    for slide in small_slides:
        link = bucket / slide.slide_id
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(slide.path, link)
    (bucket / "plain").mkdir()
    (bucket / "plain" / "bytes.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return str(root)


@pytest.fixture(scope="session")
def sim_store(store_root):
    store = SimulatedS3(store_root, latency_ms=40).start()
    yield store
    store.stop()
