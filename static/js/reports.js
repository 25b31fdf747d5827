// What-if replay: polls the run's progress, moves the progress bar and, when the run is done,
// swaps the result tables in. Works without JavaScript too (reload the page).
(function () {
  "use strict";
  var section = document.getElementById("replay-progress");
  if (!section || section.getAttribute("data-active") !== "1") return;
  var url = section.getAttribute("data-progress-url");
  var bar = document.getElementById("replay-bar");
  var status = document.getElementById("replay-status");
  var result = document.getElementById("replay-result");
  var FINAL = { done: true, cancelled: true, failed: true };
  var delay = 400;

  function text(selector, value) {
    var node = status.querySelector(selector);
    if (node) node.textContent = value;
  }

  function finish(data) {
    var cancel = document.getElementById("replay-cancel");
    if (cancel) cancel.remove();
    var start = document.querySelector("form button[type=submit][disabled]");
    if (start) { start.disabled = false; start.removeAttribute("aria-describedby"); }
    var busy = document.getElementById("replay-busy");
    if (busy) busy.remove();
    section.setAttribute("data-active", "0");
    if (data.status === "done" && data.result_html) {
      result.innerHTML = data.result_html;
      var heading = document.getElementById("result-heading");
      if (heading) heading.focus();
    } else if (data.error) {
      text("[data-status]", data.status_label + " (" + data.error + ")");
    }
  }

  function update(data) {
    var max = Math.max(data.total, 1);
    bar.max = max;
    bar.value = data.processed;
    bar.setAttribute("aria-valuemax", String(max));
    bar.setAttribute("aria-valuenow", String(data.processed));
    bar.textContent = data.percent + "%";
    text("[data-status]", data.cancel_requested && !FINAL[data.status] ? "Cancelling" : data.status_label);
    text("[data-processed]", String(data.processed));
    text("[data-total]", String(data.total));
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        update(data);
        if (FINAL[data.status]) { finish(data); return; }
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 10000); // the server is busy or away: back off, keep trying
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
