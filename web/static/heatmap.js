// A matter's diagram as a heatmap: numbers on each step, colour by median dwell time, flow counts.
(function () {
  "use strict";
  var container = document.getElementById("heatmap");
  if (!container || typeof BpmnJS === "undefined") { return; }
  var viewer = new BpmnJS({ container: container });
  var get = function (url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.text();
    });
  };
  var badge = function (text, cls) {
    var el = document.createElement("div");
    el.className = cls;
    el.textContent = text;
    return el;
  };
  Promise.all([get(container.getAttribute("data-xml")), get(container.getAttribute("data-heat")).then(JSON.parse)])
    .then(function (loaded) {
      var heat = loaded[1];
      return viewer.importXML(loaded[0]).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        var overlays = viewer.get("overlays");
        canvas.zoom("fit-viewport", "auto");
        var top = heat.max_median || 1;
        var shown = 0;
        Object.keys(heat.elements).forEach(function (id) {
          var e = heat.elements[id];
          if (!registry.get(id)) { return; }
          var level = e.median === null ? 0 : Math.min(4, Math.ceil(4 * e.median / top));
          canvas.addMarker(id, "heat-" + level);
          var share = e.overdue_share === null ? "" : " · " + Math.round(e.overdue_share * 100) + "%";
          var text = e.passed + "✓ " + e.waiting + "⏳ · " + (e.median === null ? "–" : e.median) + "/" +
            (e.p90 === null ? "–" : e.p90) + share;
          overlays.add(id, { position: { bottom: -4, left: 0 }, html: badge(text, "heat-badge") });
          shown += 1;
        });
        var counts = Object.keys(heat.flows).map(function (k) { return heat.flows[k]; });
        var most = Math.max.apply(null, counts.concat([1]));
        Object.keys(heat.flows).forEach(function (id) {
          var flow = registry.get(id);
          if (!flow) { return; }
          var n = heat.flows[id];
          canvas.addMarker(id, "flow-" + Math.min(3, Math.ceil(3 * n / most)));
          var w = flow.waypoints[Math.floor(flow.waypoints.length / 2)];
          var html = badge(String(n), "flow-badge");
          overlays.add(id, { position: { top: w.y - flow.y - 8, left: w.x - flow.x + 4 }, html: html });
        });
        container.setAttribute("data-state", "ready");
        container.setAttribute("data-marked", String(shown));
      });
    }).catch(function (err) {
      container.setAttribute("data-state", "error");
      container.textContent = container.getAttribute("data-error") || "Error";
      if (window.console) { console.error(err); }
    });
})();
