// CountyOS showcase wall: draws the charts each panel fragment describes, keeps the clock,
// registers the county's own township GeoJSON with ECharts (no tile server, works offline).
(function () {
  "use strict";
  var mapPromise = null;

  function ensureMap() {
    if (!mapPromise) {
      mapPromise = fetch("/showcase/geojson", { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("geojson " + response.status); }
          return response.json();
        })
        .then(function (geojson) {
          window.echarts.registerMap("county", geojson);
          document.body.dataset.mapRegistered = String(geojson.features.length);
        });
    }
    return mapPromise;
  }

  function needsMap(option) {
    return (option.series || []).some(function (s) { return s.type === "map"; });
  }

  function draw(element) {
    var option;
    try { option = JSON.parse(element.getAttribute("data-chart")); } catch (e) { return; }
    var ready = needsMap(option) ? ensureMap() : Promise.resolve();
    ready.then(function () {
      var chart = window.echarts.getInstanceByDom(element) || window.echarts.init(element);
      chart.setOption(option, true);
      element.dataset.rendered = "1";
      if (needsMap(option)) { document.body.dataset.mapReady = "1"; }
    }).catch(function () { element.dataset.rendered = "error"; });
  }

  function drawIn(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".chart[data-chart]").forEach(draw);
  }

  function disposeIn(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".chart").forEach(function (element) {
      var chart = window.echarts.getInstanceByDom(element);
      if (chart) { chart.dispose(); }
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) { disposeIn(event.detail.target); });
  document.addEventListener("htmx:afterSettle", function (event) { drawIn(event.detail.target); });

  window.addEventListener("resize", function () {
    document.querySelectorAll(".chart").forEach(function (element) {
      var chart = window.echarts && window.echarts.getInstanceByDom(element);
      if (chart) { chart.resize(); }
    });
  });

  function tick() {
    var clock = document.getElementById("wall-clock");
    if (!clock) { return; }
    var now = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    clock.textContent = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate()) +
      " " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds());
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    var button = document.getElementById("fullscreen");
    if (button) {
      button.addEventListener("click", function () {
        if (document.fullscreenElement) { document.exitFullscreen(); }
        else { document.documentElement.requestFullscreen(); }
      });
    }
    ensureMap().catch(function () {});
  });
})();
