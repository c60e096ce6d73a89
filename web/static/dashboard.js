// The dashboard's charts (Apache ECharts), drawn from the same JSON endpoints the exports use.
(function () {
  "use strict";
  if (typeof echarts === "undefined") { return; }
  var getJson = function (url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  };
  var percent = function (v) { return v === null ? null : Math.round(v * 1000) / 10; };
  var months = document.getElementById("chart-months");
  if (months) {
    var ml = JSON.parse(months.getAttribute("data-labels"));
    getJson(months.getAttribute("data-url")).then(function (data) {
      var rows = data.months;
      var chart = echarts.init(months);
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: {},
        xAxis: { type: "category", data: rows.map(function (r) { return r.month; }) },
        yAxis: [{ type: "value" }, { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }],
        series: [
          { name: ml.accepted, type: "bar", data: rows.map(function (r) { return r.accepted; }) },
          { name: ml.concluded, type: "bar", data: rows.map(function (r) { return r.concluded; }) },
          { name: ml.on_time_rate, type: "line", yAxisIndex: 1, data: rows.map(function (r) { return percent(r.on_time_rate); }) },
          { name: ml.run_once_share, type: "line", yAxisIndex: 1, data: rows.map(function (r) { return percent(r.run_once_share); }) }
        ]
      });
      months.setAttribute("data-state", "ready");
    }).catch(function (err) { months.setAttribute("data-state", "error"); if (window.console) { console.error(err); } });
  }
  var matters = document.getElementById("chart-matters");
  if (matters) {
    var labels = JSON.parse(matters.getAttribute("data-labels"));
    var zh = matters.getAttribute("data-locale") === "zh_CN";
    getJson(matters.getAttribute("data-url")).then(function (data) {
      var rows = data.matters;
      var chart = echarts.init(matters);
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: {},
        grid: { left: 260 },
        xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return zh ? r.label : r.label_en; }),
                 axisLabel: { width: 250, overflow: "truncate" } },
        series: ["run_once_share", "zero_trip_share", "on_time_rate"].map(function (key) {
          return { name: labels[key], type: "bar", data: rows.map(function (r) { return percent(r[key]); }) };
        })
      });
      matters.setAttribute("data-state", "ready");
    }).catch(function (err) { matters.setAttribute("data-state", "error"); if (window.console) { console.error(err); } });
  }
})();
