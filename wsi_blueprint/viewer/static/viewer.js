// The viewer page: OpenSeadragon on the slide's tile source, a scale bar from the MPP, the
// properties panel, notices for failures, and the renewal of a signed page's token.
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
    // Tiles it starts loading a frame. At its default of one, a navigator jump's destination
    // was mostly still loading when the pan's animation ended, every tile cached or not.
    maxTilesPerFrame: 3,
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
  // The properties panel lies over the slide and is opened from the header.
  var panel = document.getElementById("properties");
  var toggle = document.getElementById("properties-toggle");
  toggle.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
  });

  // Failures a person must see: a notice over the slide instead of tiles that stay blurred.
  var notice = document.getElementById("notice");
  function showNotice(kind, message, offerReload) {
    if (notice.dataset.kind === "session-ended") { return; }  // the one that ends the page
    notice.dataset.kind = kind;
    notice.querySelector(".text").textContent = message;
    notice.querySelector(".reload").hidden = !offerReload;
    notice.hidden = false;
  }
  notice.querySelector(".reload").addEventListener("click", function () {
    window.location.reload();
  });
  function sessionEnded() {
    showNotice("session-ended", "Your viewing session has ended: reload the page to continue.",
               true);
  }

  // A tile that failed says why only to a request of our own (the image loader sees no
  // status): one question at a time, and none once a notice shows.
  var diagnosing = false;
  viewer.addHandler("tile-load-failed", function (event) {
    var url = event.tile && event.tile.getUrl && event.tile.getUrl();
    if (diagnosing || !url || !notice.hidden) { return; }
    diagnosing = true;
    fetch(url, {headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          sessionEnded();
        } else if (response.status === 422) {
          return response.json().then(function (body) {
            showNotice("tile-failed", "Part of this slide cannot be shown: its image data is " +
                       "damaged (" + body.message + ").", false);
          });
        } else if (!response.ok) {
          showNotice("tile-failed", "Some tiles could not be loaded (error " +
                     response.status + ").", response.status >= 500);
        }
      })
      .catch(function () {
        showNotice("tile-failed", "Some tiles could not be loaded: the server is unreachable.",
                   true);
      })
      .then(function () { diagnosing = false; });
  });

  // Signed access: renew the token before it expires and point the tile source at the new one,
  // so a pathologist can keep reading a slide for as long as the session allows. Never more
  // than one renewal a minute, however short the token: a token that ends sooner ends the
  // session, and a failed renewal is retried at doubling intervals while the token lasts.
  var RENEW_INTERVAL_MS = 60 * 1000;
  var renewUrl = element.dataset.renewUrl;
  var token = element.dataset.token;
  var expiresAt = 0;
  var lastRenewal = Date.now();  // the page came with a freshly signed token
  var expiryTimer = null;
  function tokenValidFor(expiresIn) {
    expiresAt = Date.now() + expiresIn * 1000;
    window.clearTimeout(expiryTimer);
    expiryTimer = window.setTimeout(sessionEnded, expiresIn * 1000);
  }
  function scheduleRenewal(delay) {
    var at = Math.max(Date.now() + delay, lastRenewal + RENEW_INTERVAL_MS);
    if (at >= expiresAt - 1000) { return; }  // too late: the expiry notice will show
    window.setTimeout(renew, at - Date.now());
  }
  function renewLater(lifetime) {
    // At 80 % of the lifetime, and at least 5 s before the end (expiry is in whole seconds).
    scheduleRenewal(Math.max(0.5, Math.min(lifetime * 0.8, lifetime - 5)) * 1000);
  }
  var failures = 0;
  function renew() {
    lastRenewal = Date.now();
    document.body.dataset.renewAttempts = String(
      Number(document.body.dataset.renewAttempts || 0) + 1);
    fetch(renewUrl, {method: "POST", headers: {"Authorization": "Bearer " + token}})
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          // The session may not be extended; the token in hand still works until it ends,
          // when the notice shows.
          document.body.dataset.renewError = "refused: " + response.status;
          return null;
        }
        if (!response.ok) { throw new Error("renewal refused: " + response.status); }
        return response.json();
      })
      .then(function (answer) {
        if (!answer) { return; }
        var source = viewer.world.getItemCount() && viewer.world.getItemAt(0).source;
        if (source && source.tilesUrl) {
          source.tilesUrl = source.tilesUrl.split(token).join(answer.token);
        }
        renewUrl = renewUrl.split(token).join(answer.token);
        token = answer.token;
        failures = 0;
        document.body.dataset.renewals = String(Number(document.body.dataset.renewals || 0) + 1);
        tokenValidFor(answer.expires_in);
        renewLater(answer.expires_in);
      })
      .catch(function (error) {
        document.body.dataset.renewError = String(error);
        failures++;
        scheduleRenewal(RENEW_INTERVAL_MS * Math.pow(2, failures));
      });
  }
  if (renewUrl && token) {
    var lifetime = parseFloat(element.dataset.tokenExpiresIn);
    tokenValidFor(lifetime);
    renewLater(lifetime);
  }

  viewer.addHandler("open-failed", function (event) {
    document.body.dataset.loaded = "failed";
    document.body.dataset.error = event.message || "open failed";
  });
})();
