// The gallery: each slide card asks for its metadata (format, MPP, size) once it scrolls into
// view, a few at a time; a file that turns out not to be a slide loses its links.
(function () {
  "use strict";
  var MAX_IN_FLIGHT = 4;  // each metadata request may open a slide in the store
  var queue = [];
  var inFlight = 0;

  function text(card, selector, value) {
    var element = card.querySelector(selector);
    if (element) { element.textContent = value; }
  }

  function markUnsupported(card, message) {
    card.classList.add("unsupported");
    card.querySelectorAll("a").forEach(function (link) {
      var span = document.createElement("span");
      span.className = link.className;
      span.textContent = link.classList.contains("thumb") ? "not a slide" : link.textContent;
      link.replaceWith(span);
    });
    var problem = document.createElement("span");
    problem.className = "problem";
    problem.textContent = message;
    card.appendChild(problem);
  }

  function describe(card, meta) {
    text(card, ".format", meta.vendor || meta.format);
    if (meta.mpp) { text(card, ".mpp", meta.mpp[0].toPrecision(3) + " \u00b5m/px"); }
    card.title = meta.width + " \u00d7 " + meta.height + " px, " + meta.levels.length + " levels";
  }

  function load(card) {
    inFlight++;
    fetch(card.dataset.metadata, {headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) { return [response, body]; });
      })
      .then(function (answer) {
        if (answer[0].ok) {
          describe(card, answer[1]);
          card.dataset.state = "described";
        } else {
          markUnsupported(card, answer[1].message || ("error " + answer[0].status));
          card.dataset.state = "failed";
        }
      })
      .catch(function () { card.dataset.state = "failed"; })
      .then(function () {
        inFlight--;
        next();
      });
  }

  function next() {
    while (inFlight < MAX_IN_FLIGHT && queue.length) { load(queue.shift()); }
  }

  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) { return; }
      observer.unobserve(entry.target);
      queue.push(entry.target);
    });
    next();
  }, {rootMargin: "200px"});
  document.querySelectorAll(".card[data-metadata]").forEach(function (card) {
    observer.observe(card);
  });

  // A thumbnail that cannot be made leaves an empty frame, not a broken-image icon.
  document.addEventListener("error", function (event) {
    if (event.target.tagName === "IMG") { event.target.hidden = true; }
  }, true);
})();
