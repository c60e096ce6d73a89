// The process diagram in the bpmn-js navigated viewer, with done and current elements marked.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") { return; }
  var viewer = new BpmnJS({ container: container });
  var MIN_ZOOM = 0.6; // labels (12 px in the diagram) stay at least about 7 px high
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
      var current = null;
      Object.keys(loaded[1]).forEach(function (id) {
        if (registry.get(id)) {
          canvas.addMarker(id, "marker-" + loaded[1][id]);
          marked += 1;
          if (loaded[1][id] === "current" && !current) { current = id; }
        }
      });
      // The element the case is at, in the middle of the box.
      var centre = function (id) {
        var element = id && registry.get(id);
        if (!element) { return; }
        var box = canvas.viewbox();
        canvas.viewbox({ x: element.x + element.width / 2 - box.width / 2,
                         y: element.y + element.height / 2 - box.height / 2,
                         width: box.width, height: box.height });
      };
      // A large process fitted into a small box has unreadable labels: never below MIN_ZOOM (pan to see the
      // rest), starting from the current element.
      if (canvas.zoom() < MIN_ZOOM) {
        container.style.height = Math.min(620, Math.max(container.clientHeight, 460)) + "px";
        canvas.resized();
        canvas.zoom(MIN_ZOOM);
        centre(current || (registry.filter(function (e) { return e.type === "bpmn:StartEvent"; })[0] || {}).id);
      }
      document.querySelectorAll("[data-diagram-zoom]").forEach(function (button) {
        button.hidden = false;
        button.addEventListener("click", function () {
          var how = button.getAttribute("data-diagram-zoom");
          if (how === "in") { canvas.zoom(canvas.zoom() * 1.25); }
          else if (how === "out") { canvas.zoom(canvas.zoom() / 1.25); }
          else if (how === "fit") { canvas.zoom("fit-viewport", "auto"); }
          else if (how === "current") { canvas.zoom(Math.max(canvas.zoom(), MIN_ZOOM)); centre(current); }
          container.setAttribute("data-zoom", String(Math.round(canvas.zoom() * 100) / 100));
        });
      });
      container.setAttribute("data-zoom", String(Math.round(canvas.zoom() * 100) / 100));
      container.setAttribute("data-state", "ready");
      container.setAttribute("data-marked", String(marked));
    });
  }).catch(fail);
})();
