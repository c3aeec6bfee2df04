/* The zone editor: click on the camera's picture to add corners; the outline is kept in the
   form's text field (x,y pairs from 0 to 1, from the top-left), which stays the source of truth
   and can be edited by hand. No library. */
(function () {
  "use strict";
  var box = document.getElementById("zone-canvas");
  var text = document.getElementById("id_polygon");
  if (!box || !text) return;
  var NS = "http://www.w3.org/2000/svg";
  var svg = box.querySelector("svg");
  var W = 1000;
  var H = Math.round((W * (parseFloat(box.getAttribute("data-height")) || 3)) /
    (parseFloat(box.getAttribute("data-width")) || 4));
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);

  function parse(s) {
    var out = [], re = /(-?\d*\.?\d+)\s*[, ]\s*(-?\d*\.?\d+)/g, m;
    while ((m = re.exec(s || "")) !== null) out.push([parseFloat(m[1]), parseFloat(m[2])]);
    return out;
  }
  function round(v) { return Math.round(v * 1000) / 1000; }
  function attrPoints(list) {
    return list.map(function (p) { return (p[0] * W).toFixed(1) + "," + (p[1] * H).toFixed(1); }).join(" ");
  }

  // the other zones of the camera, drawn dashed
  Array.prototype.forEach.call(svg.querySelectorAll("polygon.other"), function (el) {
    el.setAttribute("points", attrPoints(parse(el.getAttribute("data-points"))));
  });

  var pts = parse(text.value);
  var count = document.getElementById("zone-count");

  function draw() {
    Array.prototype.forEach.call(svg.querySelectorAll(".mine, .zone-point"), function (el) {
      el.parentNode.removeChild(el);
    });
    if (pts.length) {
      var shape = document.createElementNS(NS, pts.length > 2 ? "polygon" : "polyline");
      shape.setAttribute("class", "zone-shape mine");
      shape.setAttribute("points", attrPoints(pts));
      svg.appendChild(shape);
    }
    pts.forEach(function (p, i) {
      var c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", (p[0] * W).toFixed(1));
      c.setAttribute("cy", (p[1] * H).toFixed(1));
      c.setAttribute("r", "7");
      c.setAttribute("class", "zone-point" + (i === 0 ? " first" : ""));
      svg.appendChild(c);
    });
    if (count) count.textContent = (count.getAttribute("data-template") || "%s").replace("%s", pts.length);
  }
  function store() {
    text.value = pts.map(function (p) { return round(p[0]) + "," + round(p[1]); }).join("; ");
    draw();
  }

  box.addEventListener("click", function (ev) {
    var r = svg.getBoundingClientRect();
    if (!r.width || !r.height) return;
    var x = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 1);
    var y = Math.min(Math.max((ev.clientY - r.top) / r.height, 0), 1);
    pts.push([x, y]);
    store();
  });
  document.getElementById("zone-undo").addEventListener("click", function () { pts.pop(); store(); });
  document.getElementById("zone-clear").addEventListener("click", function () { pts = []; store(); });
  text.addEventListener("input", function () { pts = parse(text.value); draw(); });

  // choosing a rule fills in its usual values
  var kind = document.getElementById("id_kind");
  var defaultsEl = document.getElementById("zone-defaults");
  if (kind && defaultsEl) {
    var defaults = JSON.parse(defaultsEl.textContent);
    kind.addEventListener("change", function () {
      var d = defaults[kind.value];
      if (!d) return;
      var set = function (id, v) { var el = document.getElementById(id); if (el) el.value = v; };
      set("id_classes", d.classes.join(", "));
      set("id_min_confidence", d.min_confidence);
      set("id_min_count", d.min_count);
      set("id_dwell_minutes", d.dwell_minutes);
      set("id_clear_minutes", d.clear_minutes);
      set("id_category_code", d.category_code);
      set("id_urgency", d.urgency);
    });
  }
  draw();
})();
