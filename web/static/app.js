// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // The server checks every field and answers in the page's language; the browser's own bubbles would speak the
  // browser's language instead. Pages mark their forms novalidate; this covers a form that forgot.
  document.querySelectorAll("form").forEach(function (form) { form.noValidate = true; });

  // Narrow screens show tables as cards: each cell carries its column's header (app.css shows it as a label).
  document.querySelectorAll("table").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) { return; }
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        var head = heads[column];
        var label = head ? head.textContent.trim() : "";
        if (label && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", label); }
        column += cell.colSpan || 1;
      });
    });
  });

  // Registration: the EIA document type only matters for the EIA matter.
  var form = document.querySelector("form[data-eia-matters]");
  if (form) {
    var eia = (form.getAttribute("data-eia-matters") || "").split(",");
    var matter = form.querySelector("select[name=matter]");
    var block = document.getElementById("report-type-block");
    var lists = form.querySelectorAll("[data-materials-of]");
    var modes = JSON.parse(form.getAttribute("data-service-modes") || "{}");
    var channels = form.querySelectorAll("input[name=channel]");
    var deliveries = form.querySelectorAll("input[name=delivery_mode]");
    var sync = function () {
      if (block) { block.hidden = eia.indexOf(matter.value) < 0; }
      // The materials checklist of the chosen matter only.
      lists.forEach(function (list) { list.hidden = list.getAttribute("data-materials-of") !== matter.value; });
      // Only the deliveries the matter offers with the chosen channel (the server refuses the others).
      var offered = modes[matter.value];
      var channel = form.querySelector("input[name=channel]:checked");
      var lost = false;
      deliveries.forEach(function (radio) {
        var ok = !offered || !channel || offered.indexOf(channel.value + "/" + radio.value) >= 0;
        radio.disabled = !ok;
        var label = radio.closest("label") || radio.parentNode;
        if (label) { label.classList.toggle("not-offered", !ok); }
        if (!ok && radio.checked) { radio.checked = false; lost = true; }
      });
      if (lost) {
        var first = form.querySelector("input[name=delivery_mode]:not(:disabled)");
        if (first) { first.checked = true; }
      }
    };
    if (matter) {
      matter.addEventListener("change", sync);
      channels.forEach(function (radio) { radio.addEventListener("change", sync); });
      sync();
    }
  }

  // Leaving a task form with unsent changes asks first.
  var taskForm = document.querySelector("form.task-form");
  if (taskForm) {
    var dirty = false;
    taskForm.addEventListener("input", function () { dirty = true; });
    taskForm.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }
})();

// Keep the reminder count in the header current without reloading the page.
(function () {
  var badge = document.querySelector("[data-reminder-count]");
  if (!badge) return;
  setInterval(function () {
    fetch("/reminders/count.json", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) badge.textContent = d.unread; });
  }, 60000);
})();
