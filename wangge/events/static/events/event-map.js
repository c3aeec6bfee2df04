// The event page's small map: the event's point on its grid's outline. No tiles unless the
// deployment names an intranet tile server (WANGGE_TILE_URL); works offline on a plain ground.
(function () {
  "use strict";
  var el = document.getElementById("event-map");
  if (!el || !window.L) { return; }
  var d = el.dataset;
  var point = d.lon && d.lat ? L.latLng(parseFloat(d.lat), parseFloat(d.lon)) : null;
  var map = L.map(el, { attributionControl: false, scrollWheelZoom: false });
  if (d.tileUrl) { L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map); }
  // the view first: Leaflet draws nothing on a map without one
  function show(outline) {
    var bounds = outline ? outline.getBounds() : null;
    if (bounds && point) { bounds.extend(point); }
    if (bounds && bounds.isValid()) {
      map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 });
    } else if (point) {
      map.setView(point, 17);
    } else {
      el.hidden = true;
      return;
    }
    if (outline) { outline.addTo(map); }
    if (point) {
      L.circleMarker(point, { radius: 8, color: "#fff", weight: 2, fillColor: "#b3261e", fillOpacity: 1 })
        .addTo(map);
    }
  }
  if (!d.gridUrl) { show(null); return; }
  fetch(d.gridUrl, { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (feature) {
      show(feature && feature.geometry ? L.geoJSON(feature, { interactive: false, style: {
        color: "#334e68", weight: 2, dashArray: "5 4", fillColor: "#4c6ef5", fillOpacity: 0.08 } }) : null);
    }, function () { show(null); });
})();
