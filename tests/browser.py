"""Headless Chromium for tests: Debian's browser driven by Playwright, and page helpers.

Playwright's own browser download never runs here; the tests use /usr/bin/chromium, which the
test command installs (deploy/install-system-deps.sh). Mirador is fetched from the npm
registry on first use and kept with the benchmarks' cache (`wsi_blueprint.bench.mirador`).
"""

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
import urllib.parse

from wsi_blueprint.bench import mirador
from wsi_blueprint.bench.viewer_eval import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 (conftest's)

WAIT_MS = 30_000


class Console:
    """A page's console messages, uncaught errors and CSP violations, from its first script."""

    def __init__(self, page) -> None:
        self.page = page
        self.messages = []
        self.page_errors = []
        page.on("console", lambda m: self.messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.add_init_script(  # injected by the browser, so the page's CSP does not apply
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => "
            "window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")

    def errors(self) -> list:
        return [text for kind, text in self.messages if kind == "error"] + self.page_errors

    def csp_violations(self) -> list:
        return self.page.evaluate("window.__cspViolations")


def new_page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 720},
                                  device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def wait_loaded(page) -> None:
    """Until viewer.js says every tile in view is drawn. Two frames first: after a change of
    view the flag is only recomputed on OpenSeadragon's next update. (Functions, not strings:
    Playwright evaluates a string with eval, which the page's CSP forbids.)"""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function("() => ['true', 'failed'].includes(document.body.dataset.loaded)")
    assert page.evaluate("() => document.body.dataset.loaded") == "true", \
        page.evaluate("() => document.body.dataset.error")


# A page of our own on the server's origin with nothing but stock OpenSeadragon, as any
# integrator would write it.
PLAIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="margin:0">
<div id="osd" style="width:800px;height:600px"></div>
<script src="{server}viewer/static/vendor/openseadragon/openseadragon.min.js"></script>
<script>
  window.state = "opening";
  var viewer = OpenSeadragon({{id: "osd", tileSources: "{source}",
    prefixUrl: "{server}viewer/static/vendor/openseadragon/images/"}});
  viewer.addHandler("open-failed", function (e) {{ window.state = "failed: " + e.message; }});
  viewer.addHandler("open", function () {{
    var item = viewer.world.getItemAt(0);
    function check() {{ if (item.getFullyLoaded()) {{ window.state = "loaded"; }} }}
    item.addHandler("fully-loaded-change", check);
    check();
  }});
</script>
</body></html>"""


def open_in_plain_openseadragon(browser, server, source: str, tile_path: str) -> list:
    """Opens `source` in stock OpenSeadragon; the (status, url) of every response whose URL
    holds `tile_path`, once every tile in view is drawn."""
    page = new_page(browser)
    try:
        console = Console(page)
        responses = []
        page.on("response", lambda r: responses.append((r.status, r.url)))
        url = server.url + "__test__/plain.html"
        page.route(url, lambda route: route.fulfill(
            content_type="text/html", body=PLAIN_PAGE.format(server=server.url, source=source)))
        page.goto(url)
        page.wait_for_function("() => window.state !== 'opening'")
        assert page.evaluate("() => window.state") == "loaded", responses
        assert console.errors() == []
        tiles = [(status, u) for status, u in responses if tile_path in u]
        assert tiles, f"no tile under {tile_path} was fetched: {responses}"
        assert all(status == 200 for status, _ in tiles), tiles
        return tiles
    finally:
        page.context.close()


# Images are asked with CORS (`crossOriginPolicy`), as a site wanting OpenSeadragon's WebGL
# drawer sets it: a tile without CORS headers would then not be drawn at all.
MIRADOR_OSD_CONFIG = {"crossOriginPolicy": "Anonymous"}


@contextlib.contextmanager
def mirador_site():
    """The Mirador page served from its own loopback origin (another port than the slide
    server's, so every request to the server is cross-origin, as from a real IIIF site; on
    loopback, as Chromium lets only a local page fetch from loopback). Yields the page's URL."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(mirador.script(), folder)
        with open(os.path.join(folder, "mirador.html"), "w") as f:
            f.write(mirador.page(MIRADOR_OSD_CONFIG))

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        site = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
        thread = threading.Thread(target=site.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{site.server_address[1]}/mirador.html"
        finally:
            site.shutdown()
            site.server_close()


def open_in_mirador(browser, site: str, manifest: str, server_url: str):
    """Opens `manifest` in the Mirador page at `site`; once every tile in view is drawn,
    returns the page (the caller closes its context) and the (status, url,
    Access-Control-Allow-Origin) of every response from `server_url`."""
    page = new_page(browser)
    console = Console(page)
    responses = []

    def answered(response):
        if response.url.startswith(server_url):
            responses.append((response.status, response.url,
                              response.headers.get("access-control-allow-origin")))

    # Mirador's own React warnings are console errors too: what matters here is that no
    # request failed and no script error was thrown.
    def failures() -> list:
        return [text for text in console.errors()
                if "Failed to load" in text or "CORS" in text] + console.page_errors

    page.on("requestfinished", lambda request: answered(request.response()))
    try:
        page.goto(f"{site}?manifest={urllib.parse.quote(manifest, safe='')}")
        deadline = time.monotonic() + WAIT_MS / 1000
        while not failures() and time.monotonic() < deadline:
            if page.evaluate("() => document.body.dataset.loaded") == "true":
                return page, responses
            page.wait_for_timeout(100)
        raise AssertionError(f"Mirador did not draw the slide: {failures()}, {responses}")
    except BaseException:
        page.context.close()
        raise
