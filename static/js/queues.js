// My queues: live updates, and alerts a responder on call notices.
// Each server-sent event re-fetches the list and swaps it in. A new item flashes its row,
// adds to the count in the tab title and is announced to screen readers; an SRO or
// co-responder item, or anything escalated to you, also raises a browser notification with
// a sound (once the person has allowed notifications: the page asks once, and says why).
// The countdown to each acknowledge deadline ticks here and turns amber, then red.
(function () {
  "use strict";
  var list = document.getElementById("queue-list");
  var live = document.getElementById("queue-live");
  if (!list || !live) return;

  var baseTitle = document.title;
  var unseen = 0;
  var inFlight = false;
  var again = null; // null, or the follow-up of the refresh that waits its turn
  var ALERT_ROUTES = {}; // the registry's police routes, from the page
  (list.getAttribute("data-alert-routes") || "").split(" ").forEach(function (route) {
    if (route) ALERT_ROUTES[route] = true;
  });
  var AMBER = 0.5, RED = 0.2; // as selectors.COUNTDOWN_AMBER / COUNTDOWN_RED

  function announce(text) {
    if (!text) return;
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function showCount() {
    document.title = unseen > 0 ? "(" + unseen + ") " + baseTitle : baseTitle;
  }

  function seen() {
    if (unseen === 0) return;
    unseen = 0;
    showCount();
  }

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      var audio = new Context();
      [0, 0.35].forEach(function (start) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.value = 0.2;
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(audio.currentTime + start);
        tone.stop(audio.currentTime + start + 0.25);
      });
    } catch (error) { /* no sound: the notification still shows */ }
  }

  function notify(event) {
    if (!window.Notification || Notification.permission !== "granted") return;
    var escalated = event.event === "escalated";
    var title = escalated
      ? "Escalated to you: " + event.queue_label
      : "URGENT: new item in " + event.queue_label;
    try {
      var note = new Notification(title, {
        body: "Incident #" + event.incident + ". Open My queues to respond.",
        tag: "queue-item-" + event.item + "-" + event.event,
        requireInteraction: true,
      });
      note.onclick = function () { window.focus(); note.close(); };
    } catch (error) { /* some browsers only notify from a service worker */ }
    beep();
  }

  function flash(itemId) {
    var row = document.getElementById("item-" + itemId);
    if (!row) return;
    row.classList.remove("flash");
    void row.offsetWidth; // restart the animation
    row.classList.add("flash");
  }

  function tick() {
    var now = Date.now();
    var clocks = list.querySelectorAll(".countdown[data-deadline]");
    for (var i = 0; i < clocks.length; i++) {
      var clock = clocks[i];
      if (clock.classList.contains("countdown-escalated")) continue;
      var deadline = Date.parse(clock.getAttribute("data-deadline"));
      var queued = Date.parse(clock.getAttribute("data-queued"));
      var left = (deadline - now) / 1000;
      var share = left / Math.max((deadline - queued) / 1000, 1);
      var state = left <= 0 ? "overdue" : share <= RED ? "red" : share <= AMBER ? "amber" : "ok";
      clock.className = "countdown countdown-" + state;
      var text = clock.querySelector(".countdown-text");
      if (!text) continue;
      if (left <= 0) {
        text.textContent = "Overdue by " + Math.ceil(-left / 60) + " min";
      } else if (left < 120) {
        text.textContent = Math.ceil(left) + " s left";
      } else {
        text.textContent = Math.ceil(left / 60) + " min left";
      }
    }
  }

  function refresh(after) {
    if (inFlight) { again = after || again || function () {}; return; }
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
        tick();
        if (after) after();
      })
      .catch(function () { /* the next event or focus refreshes again */ })
      .then(function () {
        inFlight = false;
        if (again !== null) { var next = again; again = null; refresh(next); }
      });
  }

  function onEvent(event) {
    if (event.event === "resync") { refresh(); return; }
    var arrived = event.event === "arrived";
    var escalated = event.event === "escalated";
    if (arrived || escalated) {
      unseen += 1;
      showCount();
    }
    if ((arrived && ALERT_ROUTES[event.route]) || escalated) notify(event);
    refresh(function () {
      if (arrived || escalated) flash(event.item);
      if (arrived) announce("New incident in " + event.queue_label);
      if (escalated) announce("Escalated to you: " + event.queue_label);
    });
  }

  function offerAlerts() {
    var offer = document.getElementById("alerts-offer");
    if (!offer || !window.Notification || Notification.permission !== "default") return;
    if (window.localStorage && localStorage.getItem("triage-alerts-asked")) return;
    offer.hidden = false;
    function done() {
      offer.hidden = true;
      try { localStorage.setItem("triage-alerts-asked", "1"); } catch (error) { /* private mode */ }
    }
    document.getElementById("alerts-enable").addEventListener("click", function () {
      Notification.requestPermission().then(done, done);
    });
    document.getElementById("alerts-dismiss").addEventListener("click", done);
  }

  if (window.EventSource) {
    var opened = false;
    var source = new EventSource(list.getAttribute("data-events-url"));
    source.addEventListener("open", function () {
      // Whatever arrived between this page being drawn and the stream opening.
      if (!opened) {
        opened = true;
        refresh(function () { list.setAttribute("data-live", "ready"); });
      }
    });
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      onEvent(event);
    };
  }
  window.addEventListener("focus", function () { seen(); refresh(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") seen();
  });
  list.addEventListener("click", seen);
  offerAlerts();
  tick();
  window.setInterval(tick, 1000);
})();
