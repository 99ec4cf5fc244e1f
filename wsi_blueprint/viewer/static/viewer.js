// The viewer page: OpenSeadragon on the slide's tile source, with a scale bar from the MPP.
(function () {
  "use strict";
  var element = document.getElementById("viewer");
  var mpp = parseFloat(element.dataset.mpp);
  // OpenSeadragon injects an inline <style> (a mobile focus-outline rule) unless one marked
  // data-openseadragon-mobile-css exists; our CSP (style-src 'self') blocks it with a console
  // error. An element named "style" outside the HTML namespace satisfies its check without
  // being a style sheet, so nothing is blocked.
  var marker = document.createElementNS("urn:x-wsi-blueprint", "style");
  marker.setAttribute("data-openseadragon-mobile-css", "true");
  document.head.appendChild(marker);
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
  // Signed access: renew the token before it expires and point the tile source at the new one,
  // so a pathologist can keep reading a slide for as long as the session allows.
  var renewUrl = element.dataset.renewUrl;
  var token = element.dataset.token;
  function scheduleRenewal(expiresIn) {
    if (!renewUrl || !token) { return; }
    // At 80 % of the lifetime, and at least 5 s before the end (expiry is in whole seconds).
    window.setTimeout(renew, Math.max(0.5, Math.min(expiresIn * 0.8, expiresIn - 5)) * 1000);
  }
  function renew() {
    fetch(renewUrl, {method: "POST", headers: {"Authorization": "Bearer " + token}})
      .then(function (response) {
        if (!response.ok) { throw new Error("renewal refused: " + response.status); }
        return response.json();
      })
      .then(function (answer) {
        var source = viewer.world.getItemCount() && viewer.world.getItemAt(0).source;
        if (source && source.tilesUrl) {
          source.tilesUrl = source.tilesUrl.split(token).join(answer.token);
        }
        renewUrl = renewUrl.split(token).join(answer.token);
        token = answer.token;
        document.body.dataset.renewals = String(Number(document.body.dataset.renewals || 0) + 1);
        scheduleRenewal(answer.expires_in);
      })
      .catch(function (error) {
        document.body.dataset.renewError = String(error);
      });
  }
  scheduleRenewal(parseFloat(element.dataset.tokenExpiresIn));

  viewer.addHandler("open-failed", function (event) {
    document.body.dataset.loaded = "failed";
    document.body.dataset.error = event.message || "open failed";
  });
})();
