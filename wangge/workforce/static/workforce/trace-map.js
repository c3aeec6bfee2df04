// A duty session on a map: the place's outline, the patrol route and where the worker checked
// in and out (red when far from the place). No tiles unless the deployment names an intranet
// tile server (WANGGE_TILE_URL).
(function () {
  "use strict";
  var el = document.getElementById("trace-map");
  if (!el || !window.L) { return; }
  var d = el.dataset;
  var map = L.map(el, { attributionControl: false });
  if (d.tileUrl) { L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map); }
  fetch(d.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (fc) {
      if (!fc || !fc.features || !fc.features.length) { el.hidden = true; return; }
      var layer = L.geoJSON(fc, {
        style: function (f) {
          if (f.properties.role === "place") {
            return { color: "#334e68", weight: 2, dashArray: "5 4", fillColor: "#4c6ef5", fillOpacity: 0.06 };
          }
          return { color: "#1565c0", weight: 3, opacity: 0.85 };
        },
        pointToLayer: function (f, latlng) {
          var far = f.properties.far;
          var colour = far ? "#d64545" : (f.properties.role === "check_in" ? "#2f9e44" : "#334e68");
          var label = (f.properties.role === "check_in" ? d.labelIn : d.labelOut) + (far ? " · " + d.labelFar : "");
          return L.circleMarker(latlng, { radius: 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 })
            .bindTooltip(label);
        }
      });
      // the view first: Leaflet draws nothing on a map without one
      var bounds = layer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 }); } else { map.setView([30.66, 104.07], 12); }
      layer.addTo(map);
    }, function () { el.hidden = true; });
})();
