// The viewer page: OpenSeadragon on the slide's tile source, with a scale bar from the MPP.
(function () {
  "use strict";
  var element = document.getElementById("viewer");
  var mpp = parseFloat(element.dataset.mpp);
  var viewer = OpenSeadragon({
    element: element,
    prefixUrl: element.dataset.images,
    tileSources: element.dataset.tileSource,
    showNavigator: true,
    navigatorPosition: "TOP_RIGHT",
    maxZoomPixelRatio: 2,
    crossOriginPolicy: "Anonymous"
  });
  window.wsiViewer = viewer;

  // A bar of a round length (1, 2 or 5 times a power of ten micrometres) near 150 screen px.
  var scalebar = document.getElementById("scalebar");
  function niceLength(microns) {
    var power = Math.pow(10, Math.floor(Math.log10(microns)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= microns) { return steps[i] * power; }
    }
    return 10 * power;
  }
  function label(microns) {
    return microns >= 1000 ? (microns / 1000) + " mm" : microns + " \u00b5m";
  }
  function updateScalebar() {
    if (!(mpp > 0) || !viewer.world.getItemCount()) { return; }
    var imageZoom = viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
    var micronsPerScreenPixel = mpp / imageZoom;
    var length = niceLength(150 * micronsPerScreenPixel);
    scalebar.querySelector(".bar").style.width = Math.round(length / micronsPerScreenPixel) + "px";
    scalebar.querySelector(".label").textContent = label(length);
    scalebar.hidden = false;
  }
  viewer.addHandler("open", updateScalebar);
  viewer.addHandler("animation", updateScalebar);

  // For tests and tools: the page says when every tile in view has been drawn.
  viewer.addHandler("open", function () {
    var item = viewer.world.getItemAt(0);
    function check() {
      document.body.dataset.loaded = item.getFullyLoaded() ? "true" : "false";
    }
    item.addHandler("fully-loaded-change", check);
    check();
  });
  viewer.addHandler("open-failed", function (event) {
    document.body.dataset.loaded = "failed";
    document.body.dataset.error = event.message || "open failed";
  });
})();
