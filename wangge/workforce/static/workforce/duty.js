// The duty page on the phone: the phone's position goes with a check-in or check-out, and while
// on duty the patrol route is recorded (when the worker turns it on) and sent in batches. Each
// batch is kept in localStorage with its own key until the server has it, so a batch sent again
// after a lost answer, a closed tab or a dead zone is written once.
(function () {
  "use strict";
  var status = document.getElementById("locate-status");
  var form = document.getElementById("duty-form");
  var geo = navigator.geolocation;

  function setPosition(pos) {
    document.getElementById("lon").value = pos.coords.longitude.toFixed(6);
    document.getElementById("lat").value = pos.coords.latitude.toFixed(6);
    document.getElementById("accuracy").value = Math.round(pos.coords.accuracy);
  }

  if (form && geo) {
    var asked = false;
    form.addEventListener("submit", function (ev) {
      var btn = document.getElementById("duty-btn");
      if (asked || document.getElementById("lon").value) {
        window.setTimeout(function () { btn.disabled = true; btn.textContent = btn.dataset.busy; }, 0);
        return;
      }
      ev.preventDefault();
      asked = true;
      btn.disabled = true;
      status.textContent = status.dataset.busy;
      var send = function () {
        if (duty && store) { flush(true); }  // the check-in page has no patrol route yet
        btn.textContent = btn.dataset.busy;
        form.submit();
      };
      geo.getCurrentPosition(function (pos) { setPosition(pos); send(); }, function () {
        status.textContent = status.dataset.fail;
        send();
      }, { enableHighAccuracy: true, timeout: 12000, maximumAge: 30000 });
    });
  }

  // --- the patrol route -------------------------------------------------------------------
  var duty = document.getElementById("duty");
  var box = document.getElementById("patrol-box");
  var toggle = document.getElementById("patrol-on");
  var line = document.getElementById("patrol-status");
  var store = window.localStorage;
  if (!duty || !store) { return; }
  var session = duty.dataset.session;
  var qKey = "wg-patrol-q-" + session;     // points not yet in a batch
  var outKey = "wg-patrol-out-" + session; // the batch being sent, with its key
  var onKey = "wg-patrol-on-" + session;
  var sent = 0;
  var watch = null;
  var last = null;
  var sending = false;

  function read(k, dflt) {
    try { return JSON.parse(store.getItem(k)) || dflt; } catch (e) { return dflt; }
  }
  function write(k, v) { store.setItem(k, JSON.stringify(v)); }
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var a = new Uint8Array(16);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function show() {
    var waiting = read(qKey, []).length + (read(outKey, null) || { points: [] }).points.length;
    if (!toggle.checked && !waiting) { line.textContent = duty.dataset.off; return; }
    line.textContent = waiting ? duty.dataset.waiting.replace("%s", waiting)
      : duty.dataset.sent.replace("%s", sent);
  }
  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  // send the pending batch (making one from the queue if none is pending); retried on failure
  function flush(now) {
    if (sending) { return; }
    var batch = read(outKey, null);
    if (!batch) {
      var q = read(qKey, []);
      if (!q.length || (!now && q.length < 10)) { show(); return; }
      batch = { key: newKey(), points: q.slice(0, 200) };
      write(outKey, batch);
      write(qKey, q.slice(200));
    }
    sending = true;
    fetch(duty.dataset.patrolUrl, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify(batch)
    }).then(function (r) {
      sending = false;
      if (r.ok) {
        return r.json().then(function (body) {
          store.removeItem(outKey);
          sent = body.session_points;
          show();
        });
      }
      if (r.status >= 400 && r.status < 500) { store.removeItem(outKey); } // cannot succeed
      show();
    }, function () { sending = false; show(); }); // offline: the same batch goes again later
  }
  function record(pos) {
    var p = { at: new Date(pos.timestamp || Date.now()).toISOString(),
      lon: +pos.coords.longitude.toFixed(6), lat: +pos.coords.latitude.toFixed(6),
      accuracy: Math.round(pos.coords.accuracy) };
    if (last && Date.parse(p.at) - Date.parse(last.at) < 15000) { return; }
    last = p;
    var q = read(qKey, []);
    q.push(p);
    write(qKey, q);
    show();
  }
  function start() {
    if (!geo) { line.textContent = duty.dataset.nogps; return; }
    watch = geo.watchPosition(record, function () { line.textContent = duty.dataset.nogps; },
      { enableHighAccuracy: true, maximumAge: 10000 });
  }
  function stop() {
    if (watch !== null) { geo.clearWatch(watch); watch = null; }
  }
  if (geo) { box.hidden = false; }
  toggle.checked = read(onKey, false) === true;
  toggle.addEventListener("change", function () {
    write(onKey, toggle.checked);
    if (toggle.checked) { start(); } else { stop(); flush(true); }
    show();
  });
  if (toggle.checked) { start(); }
  flush(true); // whatever an earlier visit left
  window.setInterval(function () { flush(false); }, 60000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { flush(true); }
  });
  show();
})();
