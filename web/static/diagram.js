// The process diagram in the bpmn-js navigated viewer, with done and current elements marked.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") { return; }
  var viewer = new BpmnJS({ container: container });
  var fail = function (err) {
    container.setAttribute("data-state", "error");
    container.textContent = container.getAttribute("data-error") || "Error";
    if (window.console) { console.error(err); }
  };
  var getText = function (url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.text();
    });
  };
  var statesUrl = container.getAttribute("data-states");
  Promise.all([
    getText(container.getAttribute("data-xml")),
    statesUrl ? getText(statesUrl).then(JSON.parse) : Promise.resolve({})
  ]).then(function (loaded) {
    return viewer.importXML(loaded[0]).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      // Fit the box to the diagram's proportions (wide process maps leave no empty band below).
      var inner = canvas.viewbox().inner;
      if (inner && inner.width > 0) {
        var wanted = Math.round(container.clientWidth * inner.height / inner.width) + 48;
        container.style.height = Math.max(220, Math.min(620, wanted)) + "px";
        canvas.resized();
      }
      canvas.zoom("fit-viewport", "auto");
      var marked = 0;
      Object.keys(loaded[1]).forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, "marker-" + loaded[1][id]); marked += 1; }
      });
      container.setAttribute("data-state", "ready");
      container.setAttribute("data-marked", String(marked));
    });
  }).catch(fail);
})();
