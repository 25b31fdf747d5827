// My queues: live updates. Each server-sent event re-fetches the list and swaps it in;
// a new incident is announced to screen readers. The stream ends every ~25 s and the
// browser reconnects by itself.
(function () {
  "use strict";
  var list = document.getElementById("queue-list");
  var live = document.getElementById("queue-live");
  if (!list || !live) return;

  var inFlight = false;
  var again = null; // null, or the announcement for the refresh that waits its turn

  function announce(text) {
    if (!text) return;
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function refresh(announcement) {
    if (inFlight) { again = announcement || again || ""; return; }
    inFlight = true;
    fetch(list.getAttribute("data-fragment-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // Keep keyboard focus on the same link when the list is replaced.
        var focused = document.activeElement;
        var href = focused && list.contains(focused) ? focused.getAttribute("href") : null;
        list.innerHTML = html;
        if (href) {
          var same = list.querySelector('a[href="' + href + '"]');
          if (same) same.focus();
        }
        announce(announcement);
      })
      .catch(function () { /* the next event or focus refreshes again */ })
      .then(function () {
        inFlight = false;
        if (again !== null) { var next = again; again = null; refresh(next); }
      });
  }

  if (window.EventSource) {
    var source = new EventSource(list.getAttribute("data-events-url"));
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      refresh(event.event === "arrived" ? "New incident in " + event.queue_label : "");
    };
  }
  window.addEventListener("focus", function () { refresh(""); });
})();
