"""Stock Mirador, the IIIF viewer most pathology sites embed, on the real standalone server in
headless Chromium: from a slide's Presentation 3 manifest alone it finds the Image API 3
service, asks for tiles on the grid info.json advertises, and draws the slide's pixels.

Mirador's page is served from another origin, so every request is cross-origin and its images
are asked with CORS, as on a site hosting Mirador beside a slide server.
"""

import io
import shutil

import numpy as np
import openslide
import pytest
from PIL import Image

from browser import mirador_site, open_in_mirador
from helpers import testdata_path
from live_server import LiveServer

SLIDE = "CMU-1-Small-Region.svs"  # 2220 x 2967, one level

# Mean absolute difference per channel (0-255) between what Mirador draws at its home view
# (the slide fitted to the screen, a quarter of its size) and OpenSlide's read of the slide
# scaled to the same place. Measured 4.4: Chromium's and Pillow's resampling differ. The slide
# drawn 4 screen pixels off gives 20, mirrored 40.
MAX_MEAN_DIFF = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path(SLIDE), folder / SLIDE)
    with LiveServer(folder) as live:
        yield live


@pytest.fixture(scope="module")
def site():
    with mirador_site() as url:
        yield url


def drawn_image(page) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The screenshot, and where in it OpenSeadragon's canvas lies (x, y, width, height)."""
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
    box = page.evaluate("""() => {
        const r = document.querySelector('.openseadragon-canvas').getBoundingClientRect();
        return [r.x, r.y, r.width, r.height];
    }""")
    return shot, tuple(box)


def test_mirador_draws_the_slide_from_its_manifest(browser, server, site):
    manifest = server.url + f"iiif/3/{SLIDE}/manifest.json"
    page, responses = open_in_mirador(browser, site, manifest, server.url)
    try:
        urls = [url for _, url, _ in responses]
        assert manifest in urls and server.url + f"iiif/3/{SLIDE}/info.json" in urls
        tiles = [url for url in urls if url.endswith("/0/default.jpg")]
        assert len(tiles) >= 4, urls
        assert all(status == 200 and allowed == "*" for status, _, allowed in responses), \
            responses
        shot, (x, y, width, height) = drawn_image(page)
    finally:
        page.context.close()

    with openslide.OpenSlide(testdata_path(SLIDE)) as slide:
        slide_w, slide_h = slide.dimensions
        whole = slide.read_region((0, 0), 0, (slide_w, slide_h)).convert("RGB")
    # Home view: the whole slide fitted to the canvas and centred (it is taller than wide
    # on this screen). Its bottom fifth lies under Mirador's translucent controls.
    scale = min(width / slide_w, height / slide_h)
    left, top = x + (width - slide_w * scale) / 2, y + (height - slide_h * scale) / 2
    x0, x1 = int(np.ceil(left)) + 2, int(left + slide_w * scale) - 2
    y0, y1 = int(np.ceil(top)) + 2, int(top + slide_h * scale * 0.8)
    assert x1 - x0 > 300 and y1 - y0 > 300, (x, y, width, height)
    # OpenSlide's pixels over exactly the screen pixels compared (sub-pixel placement kept).
    expected = np.asarray(whole.resize((x1 - x0, y1 - y0), Image.BOX, box=(
        (x0 - left) / scale, (y0 - top) / scale, (x1 - left) / scale, (y1 - top) / scale)))
    diff = np.abs(shot[y0:y1, x0:x1].astype(np.int16) - expected.astype(np.int16)).mean()
    assert diff <= MAX_MEAN_DIFF, diff
