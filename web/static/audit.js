// The progress of a full verification of the audit chain, polled from its stored checkpoint row.
(function () {
  "use strict";
  var box = document.getElementById("verification-progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var poll = function () {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (run) {
        if (bar) { bar.max = run.total || 1; bar.value = run.events; }
        box.setAttribute("data-state", run.state);
        if (run.state === "running") { window.setTimeout(poll, 1000); return; }
        box.textContent = box.getAttribute("data-done");
      }).catch(function () { window.setTimeout(poll, 3000); });
  };
  window.setTimeout(poll, 500);
})();
