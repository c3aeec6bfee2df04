// The region browser's map: the node's children as polygons; a click drills down.
// Works offline on a plain background; a tile layer is added only when configured.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var d = el.dataset;
  var map = L.map(el, { zoomSnap: 0.25, preferCanvas: true, attributionControl: false });
  if (d.tileUrl) { L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map); }
  var palette = ["#4c6ef5", "#12b886", "#fab005", "#fa5252", "#7950f2", "#15aabf",
                 "#82c91e", "#fd7e14", "#e64980", "#228be6", "#40c057", "#be4bdb"];
  var kindStyle = {
    exclusive: { color: "#6b21a8", weight: 2, fillColor: "#a855f7", fillOpacity: 0.45, dashArray: "4 3" }
  };
  // "水井坊社区第1网格第7微网格" under "水井坊社区第1网格" is labelled "第7微网格"
  function shortName(name) {
    return d.name && name.indexOf(d.name) === 0 && name.length > d.name.length
      ? name.slice(d.name.length) : name;
  }
  function detailUrl(code) { return d.detailUrl.replace("0000", code); }
  function styleFor(f, i) {
    var k = f.properties.kind;
    if (kindStyle[k]) { return kindStyle[k]; }
    return { color: "#334e68", weight: 1, fillColor: palette[i % palette.length], fillOpacity: 0.35 };
  }
  var outline = null;
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
      return r.json();
    });
  }
  getJSON(d.selfUrl).then(function (self) {
    if (self.geometry) {
      outline = L.geoJSON(self, { interactive: false, style: {
        color: "#b3261e", weight: 2.5, dashArray: "6 4", fill: false } }).addTo(map);
      map.fitBounds(outline.getBounds(), { padding: [10, 10] });
    }
    return getJSON(d.childrenUrl).then(function (fc) {
      if (!fc.features.length && self.geometry) {
        // a leaf (micro-grid or exclusive grid): show the place itself
        self.properties.leaf = true;
        fc = { type: "FeatureCollection", features: [self] };
      }
      return fc;
    });
  }).then(function (fc) {
    var order = 0;
    // exclusive grids drawn last so they sit on top of the general grids they lie in
    fc.features.sort(function (a, b) {
      return (a.properties.kind === "exclusive") - (b.properties.kind === "exclusive");
    });
    var layer = L.geoJSON(fc, {
      style: function (f) { return styleFor(f, order++); },
      onEachFeature: function (f, lyr) {
        var p = f.properties;
        lyr.bindTooltip(p.name + " · " + p.code, { sticky: true });
        if (!p.leaf) {
          lyr.on("click", function () { window.location.href = detailUrl(p.code); });
        }
        lyr.on("mouseover", function () { lyr.setStyle({ weight: 3 }); });
        lyr.on("mouseout", function () { layer.resetStyle(lyr); });
      }
    }).addTo(map);
    if (fc.features.length && fc.features.length <= 40) {
      fc.features.forEach(function (f) {
        if (f.properties.kind === "exclusive" || !f.geometry) { return; }
        var c = L.geoJSON(f).getBounds().getCenter();
        L.tooltip({ permanent: true, direction: "center", className: "place-label" })
          .setContent(shortName(f.properties.name)).setLatLng(c).addTo(map);
      });
    }
    if (fc.features.length) { map.fitBounds(layer.getBounds(), { padding: [10, 10] }); }
    if (outline) { outline.bringToFront(); }
    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "legend");
      var kinds = {};
      fc.features.forEach(function (f) { kinds[f.properties.kind || "region"] = true; });
      div.innerHTML = Object.keys(kinds).map(function (k) {
        var s = kindStyle[k] || { fillColor: palette[0] };
        var label = d["label" + k.charAt(0).toUpperCase() + k.slice(1)] || k;
        return '<i style="background:' + s.fillColor + '"></i>' + label;
      }).join("<br>");
      return div;
    };
    legend.addTo(map);
  }).catch(function (err) {
    el.textContent = String(err);
  });
  var input = document.getElementById("child-filter");
  if (input) {
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      document.querySelectorAll("#children tbody tr").forEach(function (tr) {
        tr.hidden = q && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
})();
