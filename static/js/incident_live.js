// Incident page: the status (where it was sent, whether a responder is on it) follows the
// incident live, without reloading. Each server-sent event re-reads the status part.
(function () {
  "use strict";
  var holder = document.getElementById("status-live");
  var eventsUrl = holder && holder.getAttribute("data-events-url");
  var statusUrl = holder && holder.getAttribute("data-status-url");
  if (!eventsUrl || !statusUrl || !window.EventSource) return;

  function refresh() {
    fetch(statusUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("incident-status");
        var current = document.getElementById("incident-status");
        if (fresh && current && fresh.outerHTML !== current.outerHTML) {
          current.replaceWith(document.importNode(fresh, true));
        }
      })
      .catch(function () { /* the next event refreshes again */ });
  }

  var opened = false;
  var source = new EventSource(eventsUrl);
  source.addEventListener("open", function () {
    // Whatever happened between this page being drawn and the stream opening.
    if (!opened) { opened = true; refresh(); }
  });
  source.onmessage = refresh;
})();
