"""Colour management seen in a real browser: the viewer page (headless Chromium, the real
standalone server) on a slide whose ICC profile is deliberately strong, its red, green and blue
primaries being sRGB's green, blue and red.

With `?color=srgb` the server converts the pixels; with `?color=embed` it passes the stored
tiles through with the profile attached and Chromium converts them itself. Either way the
screen must show the converted colours (stored red as green), and with `?color=raw` the stored
ones. WSI_SCREENSHOTS=/some/folder keeps the screenshots.
"""

import io
import os

import numpy as np
import openslide
import pytest
from PIL import Image, ImageCms

import icc_slides
from browser import Console, new_page, wait_loaded
from live_server import LiveServer
from wsi_blueprint.bench import icc_profiles

SLIDE = "strong.svs"
PATCHES = [(160, 128), (384, 128), (608, 128), (280, 500), (700, 600)]  # level-0 (x, y)
# Per channel, 0-255, mean over a patch: JPEG (stored quality 90, re-encoded at 80), the
# canvas's scaling and Chromium's colour conversion (skcms) against LittleCMS; measured at
# most 1.0 in every mode. The profile moves these colours by 100-200.
MAX_DIFF = 6.0
SCREENSHOTS = os.environ.get("WSI_SCREENSHOTS")


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("strong")
    profile = icc_profiles.swapped_primaries()
    icc_slides.write_slide(str(folder / SLIDE), profile)
    return folder / SLIDE, profile


@pytest.fixture(scope="module")
def server(slide):
    with LiveServer(slide[0].parent) as live:
        yield live


def stored_and_converted(path, profile: bytes) -> tuple[dict, dict]:
    """Each patch's colour as OpenSlide reads it, and converted to sRGB by ImageCms."""
    stored, converted = {}, {}
    transform = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                        ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                        renderingIntent=ImageCms.Intent.PERCEPTUAL)
    with openslide.OpenSlide(str(path)) as reader:
        for x, y in PATCHES:
            region = reader.read_region((x - 8, y - 8), 0, (17, 17)).convert("RGB")
            stored[x, y] = np.asarray(region, float).mean(axis=(0, 1))
            converted[x, y] = np.asarray(transform.apply(region), float).mean(axis=(0, 1))
    return stored, converted


def screen_colours(browser, url: str, name: str) -> dict:
    """The viewer at its home view: each patch's mean colour on screen (a 9 x 9 square)."""
    page = new_page(browser)
    console = Console(page)
    try:
        assert page.goto(url).status == 200
        wait_loaded(page)
        points = page.evaluate("""(patches) => {
            const v = window.wsiViewer, box = v.container.getBoundingClientRect();
            return patches.map(([x, y]) => {
                const p = v.viewport.imageToViewerElementCoordinates(
                    new OpenSeadragon.Point(x, y));
                return [box.left + p.x, box.top + p.y];
            });
        }""", PATCHES)
        screen = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            screen.save(os.path.join(SCREENSHOTS, f"color-{name}.png"))
        pixels = np.asarray(screen, float)
        assert console.errors() == []
        return {patch: pixels[round(y) - 4:round(y) + 5,
                              round(x) - 4:round(x) + 5].mean(axis=(0, 1))
                for patch, (x, y) in zip(PATCHES, points)}
    finally:
        page.context.close()


@pytest.mark.parametrize("mode", ["srgb", "embed", "raw"])
def test_the_screen_shows_the_profiles_colours(browser, server, slide, mode):
    stored, converted = stored_and_converted(*slide)
    expected = stored if mode == "raw" else converted
    shown = screen_colours(browser, f"{server.url}view/{SLIDE}?color={mode}", mode)
    for patch in PATCHES:
        diff = np.abs(shown[patch] - expected[patch]).max()
        assert diff < MAX_DIFF, (mode, patch, shown[patch].round(), expected[patch].round())
    # The profile is strong: stored red (230, 30, 30) is far from what it means.
    red = PATCHES[0]
    assert np.abs(stored[red] - converted[red]).max() > 150
