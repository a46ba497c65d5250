// The console's only script of its own: metrics and analytics charts (uPlot), live plugin events over the
// console's WebSocket, and focus management after htmx swaps. No inline script anywhere: the
// pages' CSP allows scripts from 'self' only; data comes in data-* attributes.
(function () {
  "use strict";

  function drawCharts() {
    var box = document.getElementById("metrics-charts");
    if (!box || typeof window.uPlot !== "function") return;
    var s;
    try { s = JSON.parse(box.getAttribute("data-series") || "{}"); } catch (e) { return; }
    if (!s.t || s.t.length === 0) return;
    // The x axis spans the page's one-hour window (one bucket alone would stretch it to years).
    var last = s.t[s.t.length - 1];
    var scales = { x: { time: true, range: [last - 3540, last + 60] } };
    var charts = {
      calls: {
        data: [s.t, s.calls, s.errors],
        series: [{}, { label: "calls", stroke: "#1d4ed8", width: 2 },
                 { label: "errors", stroke: "#b91c1c", width: 2 }],
      },
      p95: {
        data: [s.t, s.p95],
        series: [{}, { label: "p95 ms", stroke: "#047857", width: 2 }],
      },
    };
    box.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = charts[el.getAttribute("data-chart")];
      if (!c) return;
      el.textContent = "";
      var width = Math.max(240, el.clientWidth || el.parentNode.clientWidth || 280);
      new window.uPlot({ width: width, height: 200, series: c.series, scales: scales,
                         axes: [{ stroke: "#1f2937" }, { stroke: "#1f2937" }] }, c.data, el);
    });
  }

  // Marketplace analytics (admin): daily downloads/installs (lines), installs per category (bars).
  function drawAnalytics() {
    var box = document.getElementById("analytics-charts");
    if (!box || typeof window.uPlot !== "function") return;
    var s;
    try { s = JSON.parse(box.getAttribute("data-series") || "{}"); } catch (e) { return; }
    var axes = [{ stroke: "#1f2937" }, { stroke: "#1f2937" }];
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.6, 60] }) : null;
    var names = s.categories || [];
    var charts = {
      daily: s.t && s.t.length ? {
        opts: { scales: { x: { time: true } }, axes: axes,
                series: [{}, { label: "downloads", stroke: "#1d4ed8", width: 2 },
                         { label: "installs", stroke: "#047857", width: 2 }] },
        data: [s.t, s.downloads, s.installs],
      } : null,
      categories: names.length ? {
        opts: { scales: { x: { time: false, range: [-0.5, names.length - 0.5] } },
                axes: [{ stroke: "#1f2937", splits: function () { return names.map(function (_, i) { return i; }); },
                         values: function () { return names; } }, { stroke: "#1f2937" }],
                series: [{ label: "category", value: function (u, v) { return v == null ? "" : names[v] || ""; } },
                         { label: "installs", stroke: "#1d4ed8", fill: "#bfdbfe", width: 1, paths: bars, points: { show: false } }] },
        data: [names.map(function (_, i) { return i; }), s.categoryInstalls],
      } : null,
    };
    box.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = charts[el.getAttribute("data-chart")];
      if (!c) return;
      el.textContent = "";
      c.opts.width = Math.max(240, el.clientWidth || el.parentNode.clientWidth || 280);
      c.opts.height = 200;
      new window.uPlot(c.opts, c.data, el);
    });
  }

  function liveEvents() {
    var status = document.getElementById("live-status");
    if (!status || !window.WebSocket) return;
    var plugin = status.getAttribute("data-plugin");
    var refresh = status.getAttribute("data-refresh");
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      status.getAttribute("data-ws");
    var delay = 1000;
    function connect() {
      var ws = new WebSocket(url);
      ws.onopen = function () { status.textContent = "Live updates on."; delay = 1000; };
      ws.onmessage = function (msg) {
        var event;
        try { event = JSON.parse(msg.data); } catch (e) { return; }
        if (event.pluginId !== plugin) return;
        // The server-rendered fragment (escaped like every page) replaces the list.
        fetch(refresh, { credentials: "same-origin" }).then(function (r) {
          return r.ok ? r.text() : null;
        }).then(function (html) {
          var box = document.getElementById("events");
          if (html !== null && box) box.innerHTML = html;
        });
      };
      ws.onclose = function (ev) {
        status.textContent = "Live updates paused; reconnecting…";
        var again = function () { setTimeout(connect, delay); delay = Math.min(delay * 2, 30000); };
        if (ev.code === 4401) {
          // The access token in the cookie expired: a GET renews it, then reconnect.
          fetch("/console/session", { credentials: "same-origin" }).then(function (r) {
            if (r.status === 204) again(); else status.textContent = "Sign in again for live updates.";
          }, again);
        } else if (ev.code !== 4403) {
          again();
        }
      };
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    drawAnalytics();
    liveEvents();
    // A page answered with validation errors: focus the first field in error.
    var bad = document.querySelector("main [aria-invalid=true]");
    if (bad) bad.focus();
  });
  // After a swapped-in form with errors, move focus to the first invalid field.
  document.addEventListener("htmx:afterSwap", function (ev) {
    var bad = ev.detail.target && ev.detail.target.querySelector
      ? ev.detail.target.querySelector("[aria-invalid=true]") : null;
    if (bad) bad.focus();
  });
  // htmx does not swap error responses by default; the console's 4xx answers are pages or
  // fragments meant to be shown (validation errors next to their fields).
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var code = ev.detail.xhr.status;
    if (code >= 400 && code < 500) { ev.detail.shouldSwap = true; ev.detail.isError = false; }
  });
})();
