// The cockpit: the children's choropleth with clustered event markers, the charts (plotly.js,
// served from the plotly package), the ranking's sorting, the lists and the live feed. The page
// and the big screen share it; the big screen also rotates its panels.
(function () {
  "use strict";
  var root = document.getElementById("cockpit");
  if (!root) { return; }
  var d = root.dataset;
  var L10N = JSON.parse(document.getElementById("cockpit-labels").textContent);
  var SCREEN = root.classList.contains("screen");
  var query = "?period=" + encodeURIComponent(d.period) +
    (d.period === "custom" ? "&start=" + d.start + "&end=" + d.end : "");
  var state = { kpi: d.kpi, children: [], version: null, lastId: 0, features: null };
  var dark = SCREEN;
  var ink = dark ? "#e6edf7" : "#1f2933";

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
        return r.json();
      });
  }
  function api(path, extra) { return getJSON(d.api + path + query + (extra || "")); }
  function fmt(v, kind) {
    if (v === null || v === undefined) { return "—"; }
    if (kind === "percent") { return v.toFixed(1) + "%"; }
    if (kind === "hours") { return v.toFixed(1) + " " + L10N.hours; }
    return Number(v).toLocaleString();
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function nodeUrl(code) {
    return d.nodeUrl.replace("0000", code) + query + "&kpi=" + state.kpi + (SCREEN ? "&screen=1" : "");
  }
  function eventUrl(id) { return d.eventUrl.replace("/0/", "/" + id + "/"); }

  // --- KPI cards ---------------------------------------------------------------------------
  function renderSummary(s) {
    Object.keys(s.kpis).forEach(function (key) {
      var card = root.querySelector('.kpi[data-kpi="' + key + '"]');
      if (!card) { return; }
      var k = s.kpis[key], kind = L10N.kinds[key];
      var v = card.querySelector(".value");
      var text = fmt(k.value, kind);
      if (v.textContent !== text) {
        v.textContent = text;
        card.classList.remove("flash");
        void card.offsetWidth;  // restart the animation
        card.classList.add("flash");
      }
    });
  }

  // --- map -----------------------------------------------------------------------------------
  var mapEl = document.getElementById("cockpit-map");
  var map = null, childLayer = null, markerLayer = null, zonesLayer = null, legend = null;
  var RAMP = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];  // bad → good
  function colourFor(v, lo, hi, better) {
    if (v === null || v === undefined) { return dark ? "#3b4656" : "#d9dee5"; }
    var t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    if (better < 0) { t = 1 - t; }
    if (better === 0) { t = 1 - t; }  // more reports: warmer
    return RAMP[Math.max(0, Math.min(4, Math.floor(t * 5 - 1e-9)))];
  }
  function kpiValues() {
    var out = {};
    state.children.forEach(function (c) { out[c.code] = c[state.kpi]; });
    return out;
  }
  function paint() {
    if (!childLayer) { return; }
    var vals = kpiValues(), nums = [];
    Object.keys(vals).forEach(function (k) { if (vals[k] !== null && vals[k] !== undefined) { nums.push(vals[k]); } });
    var lo = nums.length ? Math.min.apply(null, nums) : 0, hi = nums.length ? Math.max.apply(null, nums) : 0;
    var better = L10N.better[state.kpi], kind = L10N.kinds[state.kpi];
    childLayer.eachLayer(function (lyr) {
      var code = lyr.feature.properties.code, v = vals[code];
      lyr.setStyle({ fillColor: colourFor(v, lo, hi, better), fillOpacity: 0.72,
                     color: dark ? "#0b1220" : "#ffffff", weight: 1.2 });
      lyr.setTooltipContent("<b>" + esc(lyr.feature.properties.name) + "</b><br>" +
        esc(L10N.kpis[state.kpi]) + ": " + fmt(v, kind));
    });
    if (legend) { legend.remove(); }
    legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "legend cockpit-legend");
      var rows = ["<b>" + esc(L10N.kpis[state.kpi]) + "</b>"];
      var classes = nums.length && hi > lo ? 5 : (nums.length ? 1 : 0);
      for (var i = 0; i < classes; i++) {
        var a = lo + (hi - lo) * i / classes, b = lo + (hi - lo) * (i + 1) / classes;
        var c = colourFor((a + b) / 2, lo, hi, better);
        rows.push('<i style="background:' + c + '"></i> ' +
          (classes === 1 ? fmt(a, kind) : fmt(a, kind) + " – " + fmt(b, kind)));
      }
      rows.push('<i style="background:' + (dark ? "#3b4656" : "#d9dee5") + '"></i> ' + esc(L10N.noData));
      div.innerHTML = rows.join("<br>");
      return div;
    };
    legend.addTo(map);
  }
  function setupMap() {
    if (!mapEl || !window.L) { return Promise.resolve(); }
    map = L.map(mapEl, { zoomSnap: 0.25, preferCanvas: false, attributionControl: false,
                         zoomControl: !SCREEN });
    if (d.tileUrl) { L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map); }
    return getJSON(d.selfUrl).then(function (self) {
      var outline = null;
      if (self.geometry) {
        outline = L.geoJSON(self, { interactive: false, style: {
          color: dark ? "#ffd166" : "#b3261e", weight: 3, dashArray: "6 4", fill: false } });
      }
      return getJSON(d.childrenUrl).then(function (fc) {
        if (!fc.features.length && self.geometry) { fc = { type: "FeatureCollection", features: [self] }; }
        state.features = fc;
        childLayer = L.geoJSON(fc, {
          onEachFeature: function (f, lyr) {
            lyr.bindTooltip(esc(f.properties.name), { sticky: true });
            if (f.properties.code !== d.code) {
              lyr.on("click", function () { window.location.href = nodeUrl(f.properties.code); });
            }
            lyr.on("mouseover", function () { lyr.setStyle({ weight: 3 }); });
            lyr.on("mouseout", function () { lyr.setStyle({ weight: 1.2 }); });
          }
        }).addTo(map);
        if (outline) { outline.addTo(map); }
        var bounds = childLayer.getBounds();
        if (bounds.isValid()) { map.fitBounds(bounds, { padding: [8, 8] }); }
        if (fc.features.length <= 40) {
          fc.features.forEach(function (f) {
            if (!f.geometry || f.properties.kind === "exclusive") { return; }
            var name = f.properties.name;
            if (name.indexOf(d.name) === 0 && name.length > d.name.length) { name = name.slice(d.name.length); }
            L.tooltip({ permanent: true, direction: "center", className: "place-label", interactive: false })
              .setContent(esc(name)).setLatLng(L.geoJSON(f).getBounds().getCenter()).addTo(map);
          });
        }
        markerLayer = L.layerGroup().addTo(map);
        map.on("zoomend moveend", drawMarkers);
        root.classList.add("map-ready");
        paint();
      });
    }).catch(function (e) { mapEl.textContent = String(e); });
  }

  // Clustering: the markers falling in one 48-pixel cell at the current zoom become one circle
  // with their count (overdue ones counted in red).
  var markers = [];
  function drawMarkers() {
    if (!markerLayer) { return; }
    markerLayer.clearLayers();
    var cells = {}, size = 48;
    markers.forEach(function (m) {
      var p = map.latLngToLayerPoint([m[4], m[3]]);
      var key = Math.floor(p.x / size) + ":" + Math.floor(p.y / size);
      var c = cells[key] || (cells[key] = { n: 0, overdue: 0, lat: 0, lon: 0, one: m });
      c.n += 1; c.overdue += m[5] ? 1 : 0; c.lat += m[4]; c.lon += m[3];
    });
    Object.keys(cells).forEach(function (key) {
      var c = cells[key], at = [c.lat / c.n, c.lon / c.n];
      if (c.n === 1) {
        var m = c.one;
        L.circleMarker(at, { radius: 6, weight: 2, color: "#fff",
          fillColor: m[5] ? "#e03131" : "#1c7ed6", fillOpacity: 1 })
          .bindTooltip(esc(m[1] + " " + m[2]) + (m[5] ? " · " + esc(L10N.overdue) : ""))
          .on("click", function () { window.location.href = eventUrl(m[0]); })
          .addTo(markerLayer);
      } else {
        var r = Math.min(26, 10 + Math.sqrt(c.n) * 2);
        L.marker(at, { icon: L.divIcon({ className: "cluster" + (c.overdue ? " has-overdue" : ""),
          html: "<span>" + c.n + "</span>", iconSize: [r * 2, r * 2] }) })
          .bindTooltip(c.n + " " + esc(L10N.events) + (c.overdue ? ", " + c.overdue + " " + esc(L10N.overdue) : ""))
          .on("click", function () { map.setView(at, map.getZoom() + 2); })
          .addTo(markerLayer);
      }
    });
  }
  function loadMarkers() {
    return getJSON(d.api + "markers").then(function (out) { markers = out.events; drawMarkers(); });
  }
  function toggleZones(on) {
    if (!map) { return; }
    if (!on) { if (zonesLayer) { zonesLayer.remove(); } return; }
    getJSON(d.zonesUrl).then(function (fc) {
      if (zonesLayer) { zonesLayer.remove(); }
      zonesLayer = L.geoJSON(fc, { interactive: false, style: {
        color: "#7048e8", weight: 2.5, dashArray: "2 6", fillColor: "#7048e8", fillOpacity: 0.12 } });
      zonesLayer.eachLayer(function (lyr) {
        L.tooltip({ permanent: true, direction: "center", className: "zone-label" })
          .setContent(esc(lyr.feature.properties.name)).setLatLng(lyr.getBounds().getCenter()).addTo(zonesLayer);
      });
      zonesLayer.addTo(map);
    }).catch(function () {});
  }

  // --- ranking -------------------------------------------------------------------------------
  function renderRanking() {
    var table = document.getElementById("ranking");
    if (!table) { return; }
    var body = table.tBodies[0];
    state.children.forEach(function (c) {
      var tr = body.querySelector('tr[data-code="' + c.code + '"]');
      if (!tr) { return; }
      var heads = table.tHead.rows[0].cells;
      for (var i = 1; i < heads.length; i++) {
        var key = heads[i].dataset.sort, cell = tr.cells[i];
        if (!cell || !(key in c)) { continue; }
        cell.dataset.v = c[key] === null ? "" : c[key];
        cell.textContent = fmt(c[key], L10N.kinds[key] || "count");
      }
    });
  }
  function sortable(table) {
    if (!table) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.setAttribute("role", "button");
      function go() {
        var desc = th.dataset.dir !== "desc";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (o) { delete o.dataset.dir; });
        th.dataset.dir = desc ? "desc" : "asc";
        var rows = Array.prototype.slice.call(table.tBodies[0].rows);
        rows.sort(function (a, b) {
          var x = a.cells[i], y = b.cells[i];
          if (!x || !y) { return 0; }
          if (i === 0) { return (desc ? -1 : 1) * x.textContent.localeCompare(y.textContent, "zh"); }
          var u = x.dataset.v === "" ? null : parseFloat(x.dataset.v);
          var v = y.dataset.v === "" ? null : parseFloat(y.dataset.v);
          if (u === null) { return 1; } if (v === null) { return -1; }
          return desc ? v - u : u - v;
        });
        rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  }

  // --- charts (plotly.js) ------------------------------------------------------------------------
  var plotConfig = { displayModeBar: false, responsive: true, locale: document.documentElement.lang };
  function layout(extra) {
    var base = {
      margin: { l: 40, r: 10, t: 10, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: ink, size: SCREEN ? 16 : 12 }, showlegend: true,
      legend: { orientation: "h", y: -0.2 },
      xaxis: { gridcolor: dark ? "#2b3645" : "#eef1f4", automargin: true },
      yaxis: { gridcolor: dark ? "#2b3645" : "#eef1f4", rangemode: "tozero", automargin: true }
    };
    Object.keys(extra || {}).forEach(function (k) { base[k] = extra[k]; });
    return base;
  }
  function plot(id, data, extra) {
    var el = document.getElementById(id);
    if (!el || !window.Plotly) { return; }
    window.Plotly.react(el, data, layout(extra), plotConfig);
  }
  function renderTrend(t) {
    var xaxis = { type: "date", tickformat: "%m-%d", hoverformat: "%Y-%m-%d",
                  gridcolor: dark ? "#2b3645" : "#eef1f4", automargin: true };
    plot("chart-trend", [
      { x: t.days, y: t.reported, name: L10N.reported, type: "scatter", mode: "lines", line: { color: "#4c6ef5", width: 3 } },
      { x: t.days, y: t.closed, name: L10N.closed, type: "scatter", mode: "lines", line: { color: "#12b886", width: 3 } },
      { x: t.days, y: t.overdue, name: L10N.missed, type: "bar", marker: { color: "#fa5252" }, opacity: 0.7 }
    ], { xaxis: xaxis });
  }
  function renderMix(m) {
    var cats = m.categories.slice().reverse();
    plot("chart-categories", [{ type: "bar", orientation: "h", x: cats.map(function (c) { return c.n; }),
      y: cats.map(function (c) { return c.name; }), marker: { color: "#4c6ef5" } }],
      { showlegend: false, margin: { l: 10, r: 10, t: 10, b: 30 } });
    plot("chart-sources", [{ type: "pie", hole: 0.5, labels: m.sources.map(function (s) { return s.name; }),
      values: m.sources.map(function (s) { return s.n; }), sort: false, textinfo: "percent",
      textposition: "inside", insidetextorientation: "horizontal" }],
      { margin: { l: 10, r: 10, t: 10, b: 10 }, legend: { orientation: "v" } });
  }

  // --- lists and the live feed -------------------------------------------------------------------
  function eventItem(e, isNew, feed) {
    var when = feed ? new Date(e.reported_at).toLocaleString()
      : (e.handle_due ? L10N.due + " " + new Date(e.handle_due).toLocaleString() : "");
    return '<li' + (isNew ? ' class="new"' : "") + '><a href="' + eventUrl(e.id) + '"><b>' + esc(e.number) +
      "</b> " + esc(e.title) + "</a> <small>" + esc(e.category_name) +
      (e.overdue ? ' · <span class="bad">' + esc(L10N.overdue) + "</span>" : "") +
      (when ? " · " + esc(when) : "") + "</small></li>";
  }
  function renderList(id, rows) {
    var el = document.getElementById(id);
    if (!el) { return; }
    el.innerHTML = rows.length ? rows.map(function (e) { return eventItem(e, false); }).join("")
      : '<li class="empty">' + esc(L10N.none) + "</li>";
  }
  function loadLists() {
    return Promise.all([
      getJSON(d.api + "events?kind=overdue&limit=30").then(function (r) { renderList("list-overdue", r); }),
      getJSON(d.api + "events?kind=supervised&limit=30").then(function (r) { renderList("list-supervised", r); })
    ]);
  }
  function loadFigures() {
    return Promise.all([
      api("summary").then(renderSummary),
      api("children").then(function (rows) { state.children = rows; renderRanking(); paint(); }),
      api("trend").then(renderTrend),
      api("mix").then(renderMix),
      loadLists(),
      loadMarkers()
    ]);
  }
  // alarms join the feed at the top, once each (the poll returns the latest every time)
  var seenAlarms = {};
  function renderAlarms(list, alarms) {
    var first = !Object.keys(seenAlarms).length;
    var html = alarms.filter(function (a) { return !seenAlarms[a.id]; }).map(function (a) {
      seenAlarms[a.id] = true;
      return '<li class="alarm' + (first ? "" : " new") + '"><a href="' + esc(a.url) + '"><span class="tag-alarm">' +
        esc(L10N.alarm) + "</span><b>" + esc(a.type_label) + "</b> " + esc(a.title) + "</a> <small>" +
        esc(a.state_label) + " · " + esc(new Date(a.raised_at).toLocaleString()) + "</small></li>";
    }).join("");
    if (!html) { return; }
    var empty = list.querySelector("li.empty");
    if (empty) { list.removeChild(empty); }
    list.insertAdjacentHTML("afterbegin", html);
    while (list.children.length > 30) { list.removeChild(list.lastChild); }
  }
  function renderSensing(s) {
    root.querySelectorAll("[data-s]").forEach(function (el) {
      var v = s[el.dataset.s];
      if (v === undefined) { return; }
      el.textContent = Number(v).toLocaleString();
      if (el.dataset.s === "alarms_open") { el.classList.toggle("alarm-on", v > 0); }
    });
  }
  var status = document.getElementById("live-status");
  function poll() {
    getJSON(d.api + "feed?after=" + state.lastId).then(function (f) {
      var list = document.getElementById("list-feed");
      if (f.events.length && list) {
        var first = state.lastId === 0;
        var html = f.events.map(function (e) { return eventItem(e, !first, true); }).join("");
        if (first) { list.innerHTML = html; } else { list.insertAdjacentHTML("afterbegin", html); }
        while (list.children.length > 30) { list.removeChild(list.lastChild); }
      } else if (list && state.lastId === 0 && !list.children.length) {
        list.innerHTML = '<li class="empty">' + esc(L10N.none) + "</li>";
      }
      if (f.alarms && list) { renderAlarms(list, f.alarms); }
      if (f.sensing) { renderSensing(f.sensing); }
      state.lastId = Math.max(state.lastId, f.last_id);
      if (state.version !== null && f.version !== state.version) { loadFigures(); }
      state.version = f.version;
      if (status) {
        status.textContent = L10N.updated + " " + new Date().toLocaleTimeString();
        status.classList.remove("offline");
      }
      root.dataset.version = f.version;
    }).catch(function () {
      if (status) { status.textContent = L10N.offline; status.classList.add("offline"); }
    });
  }

  // --- wiring ----------------------------------------------------------------------------------
  var select = document.getElementById("kpi-select");
  if (select) {
    select.addEventListener("change", function () {
      state.kpi = select.value;
      paint();
      root.querySelectorAll("#ranking th[data-sort]").forEach(function (th) {
        if (th.dataset.sort === state.kpi) { th.setAttribute("data-chosen", ""); } else { th.removeAttribute("data-chosen"); }
      });
      var u = new URL(window.location.href);
      u.searchParams.set("kpi", state.kpi);
      window.history.replaceState(null, "", u.toString());
    });
  }
  var zones = document.getElementById("zones-toggle");
  if (zones) { zones.addEventListener("change", function () { toggleZones(zones.checked); }); }
  sortable(document.getElementById("ranking"));
  setupMap().then(loadFigures).then(function () { root.classList.add("ready"); });
  poll();
  window.setInterval(poll, SCREEN ? 5000 : 10000);

  // --- the big screen: rotating panels, the map's KPI and a clock ------------------------------
  if (SCREEN) {
    var groups = {};
    root.querySelectorAll("[data-rotate]").forEach(function (el) {
      (groups[el.dataset.rotate] = groups[el.dataset.rotate] || []).push(el);
    });
    var tick = 0;
    var screenKpis = (d.screenKpis || "").split(",").filter(Boolean);
    window.setInterval(function () {
      tick += 1;
      Object.keys(groups).forEach(function (g) {
        var els = groups[g];
        els.forEach(function (el, i) { el.hidden = i !== tick % els.length; });
      });
      if (screenKpis.length) {
        state.kpi = screenKpis[tick % screenKpis.length];
        var title = document.getElementById("map-kpi");
        if (title) { title.textContent = L10N.kpis[state.kpi]; }
        paint();
      }
      window.dispatchEvent(new Event("resize"));  // plots in a panel just shown
    }, 12000);
    var clock = document.getElementById("clock");
    if (clock) {
      var showTime = function () { clock.textContent = new Date().toLocaleString(); };
      showTime();
      window.setInterval(showTime, 1000);
    }
  }
})();
