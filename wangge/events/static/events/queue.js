// Queues: "select all" for the bulk actions and a count of what is selected.
(function () {
  "use strict";
  var all = document.getElementById("pick-all");
  var count = document.getElementById("picked-count");
  if (!all) { return; }
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=ids][form=bulk]"));
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    if (count) { count.textContent = n ? count.dataset.template.replace("%s", n) : ""; }
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  all.hidden = false;
  all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  update();
})();
