"""With access control on, unmodified viewers work end to end in a real browser: the signed
viewer page (which renews its token), stock OpenSeadragon on a signed DZI, and stock
OpenSeadragon as a IIIF client on a signed info.json (the token rides in the service id)."""

import shutil

import pytest
import requests

from browser import Console, new_page, open_in_plain_openseadragon, wait_loaded
from helpers import testdata_path
from live_server import LiveServer

SLIDE = "cases/9/CMU-1-Small-Region.svs"
TTL = 6  # seconds: short, so that the viewer must renew while the test watches


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    (folder / "cases" / "9").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / SLIDE)
    with LiveServer(folder, env={"WSI_AUTH_SECRET": "k1:browser-test-secret",
                                 "WSI_SIGN_KEY": "admin", "WSI_AUTH_TOKEN_TTL": str(TTL)}) as live:
        yield live


def sign(server) -> dict:
    response = requests.post(server.url + "sign", json={"slide_id": SLIDE},
                             headers={"Authorization": "Bearer admin"}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_unsigned_viewer_and_tiles_are_refused(server):
    assert requests.get(server.url + f"view/{SLIDE}", timeout=10).status_code == 401
    assert requests.get(server.url + f"dzi/{SLIDE}_files/12/0_0.jpeg",
                        timeout=10).status_code == 401


def test_signed_viewer_renews_its_token_and_keeps_loading_tiles(browser, server):
    page = new_page(browser)
    try:
        console = Console(page)
        statuses = []
        page.on("response", lambda r: statuses.append((r.status, r.url)))
        page.goto(sign(server)["urls"]["viewer"])
        wait_loaded(page)
        page.wait_for_timeout((TTL + 1) * 1000)  # the token the page came with has expired
        assert int(page.evaluate("() => document.body.dataset.renewals || '0'")) >= 2
        before = len(statuses)
        page.evaluate("""() => {
            const v = window.wsiViewer;
            v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2200, 500, 400), true);
        }""")
        wait_loaded(page)
        tiles = [(s, u) for s, u in statuses[before:] if "_files/" in u]
        failed = [(s, u.split("/t/")[0] + "/t/..." + u.split("/t/")[1][-60:]) for s, u in tiles
                  if s != 200]
        assert tiles and not failed, failed
        assert page.evaluate("() => document.body.dataset.renewError") is None
        assert console.errors() == []
    finally:
        page.context.close()


def test_stock_openseadragon_opens_a_signed_dzi(browser, server):
    urls = sign(server)["urls"]
    open_in_plain_openseadragon(browser, server, urls["dzi"], "_files/")


def test_stock_openseadragon_opens_a_signed_iiif_service(browser, server):
    urls = sign(server)["urls"]
    tiles = open_in_plain_openseadragon(browser, server, urls["iiif"] + "/info.json",
                                        "/iiif/3/")
    token = urls["iiif"].split("/t/")[1].split("/")[0]
    assert all(f"/t/{token}/" in u for _, u in tiles)
