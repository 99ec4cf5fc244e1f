"""The viewer in a real browser: Debian's Chromium, driven by Playwright, against the real
standalone server (gunicorn, gevent workers) on a folder holding CMU-1-Small-Region.svs.

What a pathologist sees must be the slide: the pixels on screen at 1:1 are compared with
OpenSlide's read of the same region. Aperio RGB JPEG tiles passed through without an Adobe
APP14 marker show false colours in every browser; this is the test that would catch it.

WSI_SCREENSHOTS=/some/folder keeps the screenshots for a look.
"""

import io
import math
import os
import shutil

import numpy as np
import openslide
import pytest
import requests
from PIL import Image

from browser import Console, new_page, open_in_plain_openseadragon, wait_loaded
from helpers import RangeFileServer, testdata_path
from live_server import LiveServer
from wsi_blueprint.sample import SAMPLE_NAME, write_sample

SLIDE = "CMU-1-Small-Region.svs"
CORRUPT = "corrupt-tile.svs"

# A level-0 region full of tissue (dermis, epidermis, nuclei) in CMU-1-Small-Region.svs.
REGION = (800, 1200, 600, 400)

# Mean absolute difference per channel (0-255) between the screen at 1:1 and OpenSlide's read.
# The browser draws the very JPEG tiles OpenSlide decodes, pixel-aligned: measured 0.0 here
# (Chromium and OpenSlide both use libjpeg-turbo); a canvas resampling the view by a fraction
# of a pixel gives about 2, being a whole pixel off 14-25 on this texture, and false colours
# (the tiles' APP14 marker stripped in flight, so Chromium reads RGB as YCbCr) 28.8/83.2/48.2.
# 12 lets another decoder's rounding or a sub-pixel placement through and stops any misplaced
# view or wrong colour transform.
MAX_MEAN_DIFF = 12.0

SCREENSHOTS = os.environ.get("WSI_SCREENSHOTS")


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path(SLIDE), folder / SLIDE)
    shutil.copy(testdata_path(CORRUPT), folder / CORRUPT)
    write_sample(str(folder / SAMPLE_NAME), 1024, 768)
    return folder / SLIDE


@pytest.fixture(scope="module")
def server(slide_path):
    with LiveServer(slide_path.parent) as live:
        yield live


def save(image: Image.Image, name: str) -> None:
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        image.save(os.path.join(SCREENSHOTS, name))


@pytest.fixture(scope="module")
def viewer(browser, server):
    """The viewer page opened on the slide, then moved to show REGION at one image pixel per
    screen pixel (so both overview and full-resolution tiles were drawn); the screenshot."""
    page = new_page(browser)
    console = Console(page)
    response = page.goto(server.url + f"view/{SLIDE}")
    assert response.status == 200
    wait_loaded(page)
    x, y, w, h = REGION
    # The region's centre in the middle, with a rectangle of the viewer's own size, so
    # fitBounds neither pads nor scales.
    page.evaluate("""([cx, cy]) => {
        const v = window.wsiViewer, size = v.viewport.getContainerSize();
        v.viewport.fitBounds(v.viewport.imageToViewportRectangle(
            cx - size.x / 2, cy - size.y / 2, size.x, size.y), true);
    }""", [x + w / 2, y + h / 2])
    wait_loaded(page)
    view = page.evaluate("""([x, y]) => {
        const v = window.wsiViewer, box = v.container.getBoundingClientRect();
        const corner = v.viewport.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
        return {zoom: v.viewport.viewportToImageZoom(v.viewport.getZoom(true)),
                left: box.left, top: box.top, right: box.right, bottom: box.bottom,
                x: box.left + corner.x, y: box.top + corner.y};
    }""", [x, y])
    # The #viewer element's whole pixels: its top edge sits below a header of fractional height.
    clip = {"x": math.ceil(view["left"]), "y": math.ceil(view["top"])}
    clip.update(width=math.floor(view["right"]) - clip["x"],
                height=math.floor(view["bottom"]) - clip["y"])
    screen = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    view.update(left=round(view["x"]) - clip["x"], top=round(view["y"]) - clip["y"])
    yield {"page": page, "console": console, "response": response, "view": view,
           "screen": screen}
    page.context.close()


def test_viewer_shows_the_slide_in_true_colours(viewer, slide_path):
    x, y, w, h = REGION
    view, screen = viewer["view"], viewer["screen"]
    assert view["zoom"] == pytest.approx(1, abs=1e-6)
    # The region lies in the middle, clear of the navigator (top right), the buttons (top
    # left) and the scale bar (bottom left).
    left, top = view["left"], view["top"]
    assert 150 < left and left + w < screen.width - 150, view
    assert 100 < top and top + h < screen.height - 100, view
    shot = screen.crop((left, top, left + w, top + h))
    truth = openslide.OpenSlide(str(slide_path)).read_region((x, y), 0, (w, h)).convert("RGB")
    save(screen, "viewer.png")
    save(shot, "viewer-region.png")
    save(truth, "openslide-region.png")

    got = np.asarray(shot, dtype=np.float64)
    diff = np.abs(got - np.asarray(truth, dtype=np.float64)).mean(axis=(0, 1))
    print(f"mean absolute difference per channel (R, G, B) vs OpenSlide: {diff.round(2)}")
    assert diff.max() < MAX_MEAN_DIFF, f"screen differs from the slide: {diff.round(2)}"

    # Not blank, not one colour; pink-purple H&E (red and blue over green), not the yellow-
    # green of an RGB stream decoded as YCbCr.
    assert got.std(axis=(0, 1)).min() > 20, "the viewer shows a uniform area"
    red, green, blue = got.mean(axis=(0, 1))
    assert red > green + 20 and blue > green, f"not H&E colours: mean RGB {red, green, blue}"


def test_page_has_a_content_security_policy_and_no_console_errors(viewer):
    policy = viewer["response"].headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy and "script-src 'self'" in policy, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    console = viewer["console"]
    assert console.errors() == []
    assert console.csp_violations() == []


def test_scale_bar_shows_a_length(viewer):
    scalebar = viewer["page"].locator("#scalebar")
    scalebar.wait_for(state="visible")
    label = scalebar.locator(".label").inner_text()
    number, unit = label.split()
    assert unit in ("\u00b5m", "mm") and float(number) > 0, label
    # At 1:1 and 0.499 µm/px, a round length near 150 screen pixels: 100 µm, about 200 px.
    assert label == "100 \u00b5m"
    width = scalebar.locator(".bar").bounding_box()["width"]
    assert width == pytest.approx(100 / 0.499, abs=2)


def test_stock_openseadragon_opens_the_dzi(browser, server):
    open_in_plain_openseadragon(browser, server, f"{server.url}dzi/{SLIDE}.dzi",
                                f"/dzi/{SLIDE}_files/")


def test_stock_openseadragon_opens_the_iiif_image_service(browser, server):
    tiles = open_in_plain_openseadragon(browser, server,
                                        f"{server.url}iiif/3/{SLIDE}/info.json",
                                        f"/iiif/3/{SLIDE}/")
    images = [u for _, u in tiles if not u.endswith("/info.json")]
    assert images, "no IIIF image was fetched"
    print(f"{len(images)} IIIF images, e.g. {images[0]}")


def test_properties_panel_shows_the_slide(viewer):
    page = viewer["page"]
    panel = page.locator("#properties")
    assert panel.is_hidden()
    page.locator("#properties-toggle").click()
    panel.wait_for(state="visible")
    assert panel.locator(".vendor").inner_text() == "aperio"
    assert panel.locator("td.mpp").inner_text() == "0.499 \u00d7 0.499 \u00b5m/px"
    assert panel.locator(".objective").inner_text() == "20\u00d7"
    assert panel.locator("td.levels").inner_text() == "1"
    assert panel.locator("table.levels tr").count() == 2  # a header and the one level
    scanner = panel.locator("details.scanner")
    scanner.locator("summary").click()  # many properties: folded until asked for
    assert "aperio.AppMag" in scanner.inner_text() and "ScanScope" in scanner.inner_text()
    # The thumbnail is shown; label and macro carry patient identity and are off by default.
    names = [f.get_attribute("data-name") for f in panel.locator("figure").all()]
    assert names == ["thumbnail"]
    page.wait_for_function("() => document.querySelector('figure img').naturalWidth > 0")
    page.locator("#properties-toggle").click()
    assert panel.is_hidden()
    assert page.locator("a.back").get_attribute("href") == "/"


def test_damaged_tiles_show_a_notice(browser, server):
    page = new_page(browser)
    try:
        page.goto(server.url + f"view/{CORRUPT}")
        notice = page.locator("#notice")
        notice.wait_for(state="visible")
        assert page.evaluate("() => document.getElementById('notice').dataset.kind") == \
            "tile-failed"
        assert "image data is damaged" in notice.inner_text()
        assert "JPEG tile header is malformed" in notice.inner_text()
    finally:
        page.context.close()


@pytest.mark.parametrize("slide, status, words", [
    ("missing.svs", 404, "no slide 'missing.svs'"),
    ("../x.svs", 400, "segment"),
])
def test_a_page_that_fails_is_html_for_a_browser(browser, server, slide, status, words):
    page = new_page(browser)
    try:
        response = page.goto(server.url + "view/" + slide.replace("/", "%2F"))
        assert response.status == status
        assert response.headers["content-type"].startswith("text/html")
        assert page.locator("main.error").get_attribute("data-status") == str(status)
        assert words in page.locator(".message").inner_text()
        assert page.locator("main.error a").get_attribute("href") == "/"
    finally:
        page.context.close()
    # An API client that asks for JSON still gets it.
    answer = requests.get(server.url + "view/" + slide.replace("/", "%2F"),
                          headers={"Accept": "application/json"}, timeout=10)
    assert answer.status_code == status and answer.json()["status"] == status


def test_the_demo_slide_has_a_scale_bar(browser, server):
    page = new_page(browser)
    try:
        page.goto(server.url + f"view/{SAMPLE_NAME}")
        wait_loaded(page)
        page.locator("#scalebar").wait_for(state="visible")
        number, unit = page.locator("#scalebar .label").inner_text().split()
        assert float(number) > 0 and unit in ("\u00b5m", "mm")
    finally:
        page.context.close()



def framed_viewer(browser, host, folder, server) -> bool:
    """Whether a host application's page (served by `host` from `folder`, on an origin of its
    own) shows the viewer in an iframe."""
    page = new_page(browser)
    try:
        (folder / "case.html").write_text(
            f'<iframe src="{server.url}view/{SLIDE}" width="900" height="600"></iframe>')
        page.goto(host.url + "case.html")  # its load event waits for the frame's
        frame = page.frames[1]
        return frame.locator("#viewer").count() == 1
    finally:
        page.context.close()


def test_embedding_from_another_origin_is_the_operators_choice(browser, server, slide_path,
                                                              tmp_path):
    # Loopback on another port: Chromium refuses frames from public origins to loopback.
    host = RangeFileServer(str(tmp_path))
    try:
        assert not framed_viewer(browser, host, tmp_path, server)  # default: 'self' only
        env = {"WSI_FRAME_ANCESTORS": f"'self' {host.url.rstrip('/')}"}
        with LiveServer(slide_path.parent, workers=1, env=env) as allowing:
            assert framed_viewer(browser, host, tmp_path, allowing)
    finally:
        host.stop()
