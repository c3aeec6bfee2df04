// The report form on the phone: the phone's position into lon/lat, the "resolved on the spot"
// box only for categories that allow it, and one submission per tap (the form also carries an
// idempotency key, so a retry after a lost answer is still one event).
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var btn = document.getElementById("locate");
  var status = document.getElementById("locate-status");
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");
  if (btn && navigator.geolocation) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      status.textContent = status.dataset.busy;
      btn.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        lon.value = pos.coords.longitude.toFixed(6);
        lat.value = pos.coords.latitude.toFixed(6);
        status.textContent = status.dataset.done.replace("%s", Math.round(pos.coords.accuracy));
        btn.disabled = false;
        where(lon.value, lat.value);
      }, function () {
        status.textContent = status.dataset.fail;
        btn.disabled = false;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
  // which grid the point lies in (the report goes to that grid, whoever reports it)
  function where(x, y) {
    var url = status.dataset.locateUrl + "?lon=" + encodeURIComponent(x) + "&lat=" + encodeURIComponent(y);
    fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 404) { return { outside: true }; }
      return r.ok ? r.json() : null;
    }).then(function (found) {
      if (!found) { return; }
      var note = found.outside ? status.dataset.outside
        : found.grid ? status.dataset.in.replace("%s", found.grid.name) : "";
      if (note) { status.textContent += " " + note; }
    }).catch(function () { /* the server locates it on submission anyway */ });
  }
  var category = document.getElementById("category");
  var box = document.getElementById("on-spot-box");
  var onSpot = document.getElementById("on_spot");
  var after = document.getElementById("after-box");
  function sync() {
    var opt = category.options[category.selectedIndex];
    var allowed = opt && opt.dataset.onSpot === "1";
    box.hidden = !allowed;
    if (!allowed) { onSpot.checked = false; }
    after.hidden = !onSpot.checked;
  }
  category.addEventListener("change", sync);
  onSpot.addEventListener("change", sync);
  sync();
  var send = document.getElementById("send");
  form.addEventListener("submit", function () {
    // after the browser has taken the submission: a second tap does nothing
    window.setTimeout(function () { send.disabled = true; send.textContent = send.dataset.busy; }, 0);
  });
})();
