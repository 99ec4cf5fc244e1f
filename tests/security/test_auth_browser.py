"""With access control on, unmodified viewers work end to end in a real browser: the signed
viewer page (which renews its token, at most once a minute, and says when the session has
ended), stock OpenSeadragon on a signed DZI, stock OpenSeadragon as a IIIF client on a
signed info.json (the token rides in the service id), and stock Mirador on a signed manifest.

The page's clock is Playwright's fake one where minutes must pass: the server's tokens live
in real time, so a renewal the page makes after a jump is still made with a valid token."""

import shutil
import time

import pytest
import requests

from browser import Console, mirador_site, new_page, open_in_mirador, \
    open_in_plain_openseadragon, wait_loaded
from helpers import testdata_path
from live_server import LiveServer

SLIDE = "cases/9/CMU-1-Small-Region.svs"
TTL = 900  # seconds, the default; the page renews at 80 % of it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    (folder / "cases" / "9").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / SLIDE)
    with LiveServer(folder, env={"WSI_AUTH_SECRET": "k1:browser-test-secret",
                                 "WSI_SIGN_KEY": "admin", "WSI_AUTH_TOKEN_TTL": str(TTL)}) as live:
        yield live


def sign(server, **body) -> dict:
    response = requests.post(server.url + "sign", json={"slide_id": SLIDE, **body},
                             headers={"Authorization": "Bearer admin"}, timeout=10)
    response.raise_for_status()
    return response.json()


def body_data(page, name: str):
    return page.evaluate(f"() => document.body.dataset.{name}")


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
        page.clock.install()
        signed = sign(server)
        page.goto(signed["urls"]["viewer"])
        wait_loaded(page)
        time.sleep(1.1)  # tokens carry their expiry in whole seconds: a renewed one differs
        for renewals in (1, 2):  # at 80 % of each token's lifetime
            page.clock.fast_forward(int(TTL * 0.8 * 1000) + 1000)
            page.wait_for_function(f"() => document.body.dataset.renewals === '{renewals}'")
        before = len(statuses)
        page.evaluate("""() => {
            const v = window.wsiViewer;
            v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2200, 500, 400), true);
        }""")
        wait_loaded(page)
        tiles = [(s, u) for s, u in statuses[before:] if "_files/" in u]
        assert tiles and all(s == 200 for s, _ in tiles), [s for s, _ in tiles]
        assert all("/t/" in u and f"/t/{signed['token']}/" not in u for _, u in tiles)
        assert body_data(page, "renewError") is None and page.locator("#notice").is_hidden()
        assert console.errors() == []
    finally:
        page.context.close()


def test_failed_renewals_back_off_and_the_session_ends_visibly(browser, server):
    page = new_page(browser)
    try:
        page.route("**/renew", lambda route: route.fulfill(status=503, body="{}"))
        page.clock.install()
        page.goto(sign(server)["urls"]["viewer"])
        wait_loaded(page)
        attempts, step = [], 30
        for elapsed in range(step, TTL + 2 * step, step):
            page.clock.fast_forward(step * 1000)
            time.sleep(0.2)  # the refused renewal is answered in real time
            attempts.append((elapsed, int(body_data(page, "renewAttempts") or 0)))
        started = [t for (t, n), (_, before) in zip(attempts, [(0, 0)] + attempts) if n > before]
        # 80 % of the lifetime, then 2 minutes later; the next try (4 minutes on) would come
        # after the token's end, so there is none, and the session-ended notice shows.
        # (The page's clock also runs in real time between jumps: a few seconds late at most.)
        assert len(started) == 2 and started[0] in (720, 750), attempts
        assert started[1] - started[0] == 120, attempts
        notice = page.locator("#notice")
        assert notice.is_visible() and "session has ended" in notice.inner_text()
        assert page.locator("#notice .reload").is_visible()
    finally:
        page.context.close()


def test_an_expired_token_shows_session_ended_not_blurred_tiles(browser, server):
    page = new_page(browser)
    try:
        signed = sign(server, expires_in=10)
        page.goto(signed["urls"]["viewer"])
        wait_loaded(page)
        notice = page.locator("#notice")
        assert notice.is_hidden()
        notice.wait_for(state="visible")  # when the token ends
        # No renewal: a token shorter than the one-a-minute pace ends the session.
        assert body_data(page, "renewAttempts") is None
        assert "reload" in notice.inner_text()
        assert page.evaluate("() => document.getElementById('notice').dataset.kind") == \
            "session-ended"
        # The page is told the seconds left in whole seconds, rounded down, so its notice can
        # come up to a second before the server's expiry. Once that has passed too, the tiles
        # would have been refused.
        time.sleep(max(0.0, signed["expires_at"] - time.time() + 0.05))
        with page.expect_response(lambda r: "_files/" in r.url) as tile:
            page.evaluate("""() => {
                const v = window.wsiViewer;
                v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2200, 300, 200),
                                     true);
            }""")
        assert tile.value.status == 401
    finally:
        page.context.close()


def test_tiles_refused_for_a_token_the_page_still_trusts_end_the_session(browser, server):
    """As after a laptop slept: the page's timers did not run, the server's clock did."""
    page = new_page(browser)
    try:
        page.clock.install()
        page.goto(sign(server, expires_in=10)["urls"]["viewer"])
        wait_loaded(page)
        lifetime = int(page.locator("#viewer").get_attribute("data-token-expires-in"))
        paused = page.evaluate("() => Date.now()") + 100
        page.clock.pause_at(paused / 1000)  # Python takes seconds
        time.sleep(11)  # the token ends on the server; the page's clock stands still
        page.evaluate("""() => {
            const v = window.wsiViewer;
            v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2200, 300, 200), true);
        }""")
        notice = page.locator("#notice")
        for _ in range(30):  # animation frames, 50 ms of page time each
            page.clock.run_for(50)
            if notice.is_visible():
                break
        # Well inside the token's life by the page's clock: its own expiry did not fire.
        assert page.evaluate("() => Date.now()") - paused < lifetime * 1000 - 3000
        assert page.evaluate("() => document.getElementById('notice').dataset.kind") == \
            "session-ended"
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


def test_stock_mirador_opens_a_signed_manifest(browser, server):
    urls = sign(server)["urls"]
    token = urls["manifest"].split("/t/")[1].split("/")[0]
    with mirador_site() as site:
        page, responses = open_in_mirador(browser, site, urls["manifest"], server.url)
        page.context.close()
    tiles = [url for _, url, _ in responses if url.endswith("/0/default.jpg")]
    assert len(tiles) >= 4, responses
    assert any(url.endswith("/info.json") for _, url, _ in responses), responses
    assert all(status == 200 and f"/t/{token}/" in url for status, url, _ in responses), \
        responses
