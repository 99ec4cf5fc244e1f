"""Stock Mirador for the browser benchmark and the tests: its browser build, fetched from the
npm registry once into the benchmarks' cache folder (never committed), and a page that opens
one manifest in it, as a site embedding Mirador would.

The page hands the OpenSeadragon viewer Mirador made to `window.wsiViewer` and keeps
`document.body.dataset.loaded` ("true" once every tile in view is drawn) as the built-in viewer
page does, so whatever drives and times one drives and times the other.
"""

import json
import os

from ..viewer.assets import npm_package
from .slidegen import default_cache_dir

VERSION = "4.0.0"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="margin:0"><div id="mirador" style="position:absolute;inset:0"></div>
<script src="mirador.min.js"></script>
<script>
  const mirador = Mirador.viewer({id: "mirador",
    windows: [{manifestId: new URLSearchParams(location.search).get("manifest")}],
    window: {allowClose: false, allowMaximize: false, sideBarOpen: false},
    workspaceControlPanel: {enabled: false},
    osdConfig: %s});
  (function expose() {  // Mirador makes its viewer once the manifest and info.json are in
    const windowId = Object.keys(mirador.store.getState().windows)[0];
    const made = windowId && Mirador.OSDReferences.get(windowId);
    const viewer = made && made.current;
    if (!viewer || viewer.world.getItemCount() === 0) {
      setTimeout(expose, 50);
      return;
    }
    const item = viewer.world.getItemAt(0);
    const check = () => { document.body.dataset.loaded = String(item.getFullyLoaded()); };
    item.addHandler("fully-loaded-change", check);
    check();
    window.wsiViewer = viewer;
  })();
</script>
</body></html>"""


def script() -> str:
    """The path of Mirador's browser build, fetched on first use."""
    folder = os.path.join(default_cache_dir(), f"mirador-{VERSION}")
    path = os.path.join(folder, "package", "dist", "mirador.min.js")
    if not os.path.isfile(path):
        npm_package(f"mirador@{VERSION}", folder)
    return path


def page(osd_config: dict) -> str:
    """The page, loading `mirador.min.js` from beside it and opening the manifest its URL's
    `manifest` query names; `osd_config` goes to OpenSeadragon as Mirador's `osdConfig`."""
    return PAGE % json.dumps(osd_config)
