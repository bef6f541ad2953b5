/* chargebox web UI: htmx JSON extension for the control API, live updates by SSE, chart. */
(function () {
  "use strict";

  // -- htmx forms call the control API with JSON bodies ----------------------------------
  // <form hx-post="/api/v1/..." hx-ext="json-api">: fields marked data-num are sent as
  // numbers, empty fields are left out, and {name} in the path is taken from the field.
  if (window.htmx) {
    htmx.defineExtension("json-api", {
      onEvent: function (name, evt) {
        if (name !== "htmx:configRequest") return true;
        var p = evt.detail.parameters;
        evt.detail.path = evt.detail.path.replace(/\{(\w+)\}/g, function (_, key) {
          var value = p.get(key);
          p.delete(key);
          return encodeURIComponent(value || "");
        });
        evt.detail.headers["Content-Type"] = "application/json";
        evt.detail.headers["Accept"] = "application/json";
        return true;
      },
      encodeParameters: function (xhr, parameters, elt) {
        xhr.overrideMimeType("text/json");
        var body = {};
        parameters.forEach(function (value, key) {
          if (value === "" || key === "csrf_token") return;
          var field = elt.querySelector ? elt.querySelector('[name="' + key + '"]') : null;
          if (!field && elt.form) field = elt.form.querySelector('[name="' + key + '"]');
          body[key] = field && field.hasAttribute("data-num") ? Number(value) : value;
        });
        return JSON.stringify(body);
      }
    });
    document.addEventListener("htmx:afterRequest", function (e) {
      var flash = document.getElementById("flash");
      var xhr = e.detail.xhr;
      if (!flash || !xhr) return;
      var text;
      if (e.detail.successful) {
        text = (TEXT.sim && TEXT.sim.ok) || "OK";
      } else {
        try {
          var detail = JSON.parse(xhr.responseText).detail;
          text = typeof detail === "string" ? detail : JSON.stringify(detail);
        } catch (_) {
          text = xhr.statusText;
        }
        text = xhr.status + ": " + text;
      }
      flash.textContent = text;
      flash.className = "flash " + (e.detail.successful ? "ok" : "bad");
    });
  }

  // -- live dashboard --------------------------------------------------------------------
  var root = document.querySelector("[data-live]");
  var TEXT = readJson("text", {});
  if (!root) return;

  function readJson(id, fallback) {
    var el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : fallback; } catch (_) { return fallback; }
  }
  function tr(group, value) {
    if (value === null || value === undefined) return "–";
    var g = TEXT[group] || {};
    return g[value] || String(value);
  }
  function kw(w) { return (w / 1000).toFixed(2) + " kW"; }
  function kwh(wh) { return (wh / 1000).toFixed(2) + " kWh"; }
  function duration(s) {
    if (s === null || s === undefined) return "–";
    s = Math.max(0, Math.floor(s));
    var m = Math.floor(s / 60) % 60, sec = s % 60;
    return Math.floor(s / 3600) + ":" + (m < 10 ? "0" : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
  }
  // The same fields as connector_view() in web/dashboard.py.
  function view(c) {
    var inTx = c.transaction_id !== null || c.local_transaction_id !== null;
    return {
      status: tr("status", c.status),
      error_code: c.error_code === "NoError" ? "–" : c.error_code,
      pilot: tr("pilot", c.pilot),
      soc: c.car ? Math.round(c.car.soc_percent) + " %" : "–",
      current_limit_a: c.current_limit_a.toFixed(1) + " A",
      limiting_source: tr("source", c.limiting_source),
      power_w: kw(c.power_w),
      energy_wh: inTx ? kwh(c.energy_wh) : "–",
      duration: duration(c.session_duration_s),
      id_tag: c.id_tag || "–"
    };
  }
  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

  function update(data) {
    var d = TEXT.dash || {};
    data.connectors.forEach(function (c) {
      var v = view(c);
      document.querySelectorAll('[data-connector="' + c.id + '"]').forEach(function (card) {
        card.setAttribute("data-status", c.status);
        card.querySelectorAll("[data-f]").forEach(function (el) {
          setText(el, v[el.getAttribute("data-f")]);
        });
      });
    });
    var o = data.ocpp;
    document.querySelectorAll("[data-g]").forEach(function (el) {
      var g = el.getAttribute("data-g");
      if (g === "connection") setText(el, !o.csms_url ? d.standalone : o.connected ? d.connected : d.disconnected);
      if (g === "registration") setText(el, tr("registration", o.registration));
      if (g === "queued") setText(el, String(o.queued_messages));
    });
    renderEnergy(data.energy);
    addPoint(data);
    addGridPoint(data);
  }

  // ENERGY: the status document's "energy" object (energy/manager.py _describe): per phase
  // the grid limit, measured load, budget, allocation and the binding limit; per connector
  // the allocation; and a chart of grid current against the limit. Hidden while it is off.
  var gridPoints = []; // [[t, [L1, L2, L3], [limit1, limit2, limit3]], ...]
  function renderEnergy(energy) {
    var box = document.getElementById("energy");
    if (!box) return;
    if (!energy || typeof energy !== "object" || !energy.phases) { box.hidden = true; return; }
    box.hidden = false;
    var e = TEXT.energy_panel || {};
    var m = energy.meter || {};
    var head = '<p class="row" id="energy-state"><span data-e="healthy" class="' + (energy.healthy ? "ok" : "bad") + '">' +
      esc(e.healthy) + ": " + esc(energy.healthy ? e.ok : e.failed) + (energy.error ? " (" + esc(energy.error) + ")" : "") +
      "</span> · <span>" + esc(e.mode) + ": " + esc(energy.mode) + "</span> · <span data-e=\"meter\">" + esc(e.meter) + ": " +
      esc(e["meter_" + m.state] || m.state || "–") + (m.age_s !== null && m.age_s !== undefined ? " (" + m.age_s.toFixed(1) + " s)" : "") + "</span></p>";
    var rows = [["grid_limit", "grid_limit_a"], ["measured", "measured_a"], ["external", "external_load_a"],
      ["budget", "budget_a"], ["allocated", "allocated_a"], ["binding", "binding"]];
    var table = '<table class="table" id="energy-phases"><tr><th>' + esc(e.phase) + "</th>" +
      energy.phases.map(function (p) { return "<th>" + esc(p.phase) + "</th>"; }).join("") + "</tr>" +
      rows.map(function (r) {
        return '<tr data-row="' + r[1] + '"><th>' + esc(e[r[0]]) + "</th>" + energy.phases.map(function (p) {
          var v = p[r[1]];
          return "<td>" + esc(r[1] === "binding" ? tr("binding", v) : amps(v)) + "</td>";
        }).join("") + "</tr>";
      }).join("") + "</table>";
    var conns = (energy.connectors || []).map(function (c) {
      return '<tr data-econnector="' + c.id + '"><td>' + c.id + "</td><td>" + amps(c.allocated_a) + (c.paused ? " (" + esc(e.paused) + ")" : "") +
        "</td><td>" + esc((c.grid_phases || []).join(" ")) + "</td><td>" + esc(tr("binding", c.binding)) + "</td></tr>";
    }).join("");
    var ctable = '<table class="table" id="energy-connectors"><tr><th>' + esc(e.connector) + "</th><th>" + esc(e.connector_allocated) +
      "</th><th>" + esc(e.grid_phases) + "</th><th>" + esc(e.binding) + "</th></tr>" + conns + "</table>";
    document.getElementById("energy-body").innerHTML = head + '<div class="scroll">' + table + ctable + "</div>";
  }
  function amps(v) { return v === null || v === undefined ? "–" : (Math.round(v * 10) / 10).toFixed(1); }
  function esc(s) {
    return String(s === undefined || s === null ? "–" : s).replace(/[&<>"]/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch];
    });
  }
  // Grid current per phase against its limit (the same small SVG style as the power chart).
  var gridChart = document.getElementById("grid-chart");
  function addGridPoint(data) {
    var energy = data.energy;
    if (!gridChart || !energy || !energy.phases) return;
    var last = gridPoints[gridPoints.length - 1];
    if (last && data.at - last[0] < 0.5) gridPoints.pop();
    gridPoints.push([data.at,
      energy.phases.map(function (p) { return p.measured_a === null ? p.charging_measured_a + p.external_load_a : p.measured_a; }),
      energy.phases.map(function (p) { return p.grid_limit_a; })]);
    while (gridPoints.length && gridPoints[0][0] < data.at - WINDOW) gridPoints.shift();
    var max = 10;
    gridPoints.forEach(function (p) { p[1].concat(p[2]).forEach(function (a) { if (a > max) max = a; }); });
    max = Math.ceil(max * 1.1 / 5) * 5;
    var series = [[], [], [], [], [], []];
    gridPoints.forEach(function (p) {
      var x = ((p[0] - (data.at - WINDOW)) / WINDOW * W).toFixed(1);
      for (var i = 0; i < 3; i++) {
        series[i].push(x + "," + (H - Math.max(0, p[1][i]) / max * H).toFixed(1));
        series[i + 3].push(x + "," + (H - p[2][i] / max * H).toFixed(1));
      }
    });
    while (gridChart.firstChild) gridChart.removeChild(gridChart.firstChild);
    series.forEach(function (s, i) {
      var line = document.createElementNS(NS, "polyline");
      line.setAttribute("points", s.join(" "));
      line.setAttribute("class", "s" + (i % 3 + 1) + (i >= 3 ? " limit" : ""));
      gridChart.appendChild(line);
    });
    var label = document.getElementById("grid-chart-max");
    if (label) label.textContent = "(max " + max + " A)";
  }

  // -- power chart: inline SVG, last 5 minutes --------------------------------------------
  var chart = document.getElementById("chart");
  var points = readJson("history", []); // [[t, [w1, w2, ...]], ...]
  var WINDOW = 300, W = 600, H = 160, NS = "http://www.w3.org/2000/svg";
  function addPoint(data) {
    if (!chart) return;
    var last = points[points.length - 1];
    if (last && data.at - last[0] < 0.5) points.pop();
    points.push([data.at, data.connectors.map(function (c) { return c.power_w; })]);
    var cut = data.at - WINDOW;
    while (points.length && points[0][0] < cut) points.shift();
    draw(data.at);
  }
  function draw(now) {
    var n = points.length ? points[points.length - 1][1].length : 0;
    var max = 1000;
    points.forEach(function (p) {
      var total = p[1].reduce(function (a, b) { return a + b; }, 0);
      if (total > max) max = total;
    });
    max = Math.ceil(max / 1000) * 1000;
    var series = [];
    for (var i = 0; i <= n; i++) series.push([]);
    points.forEach(function (p) {
      var x = ((p[0] - (now - WINDOW)) / WINDOW * W).toFixed(1);
      var total = 0;
      p[1].forEach(function (w, i) {
        total += w;
        series[i + 1].push(x + "," + (H - w / max * H).toFixed(1));
      });
      series[0].push(x + "," + (H - total / max * H).toFixed(1));
    });
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    series.forEach(function (s, i) {
      var line = document.createElementNS(NS, "polyline");
      line.setAttribute("points", s.join(" "));
      line.setAttribute("class", "s" + i);
      chart.appendChild(line);
    });
    var label = document.getElementById("chart-max");
    if (label) label.textContent = "(max " + (max / 1000).toFixed(0) + " kW)";
  }

  // -- server-sent events ------------------------------------------------------------------
  var live = document.getElementById("live");
  function state(s) {
    if (!live) return;
    live.setAttribute("data-state", s);
    live.textContent = s === "open" ? (TEXT.dash || {}).live : (TEXT.dash || {}).offline;
  }
  var source = new EventSource("/events");
  source.addEventListener("open", function () { state("open"); });
  source.addEventListener("error", function () { state("closed"); });
  source.addEventListener("status", function (m) { state("open"); update(JSON.parse(m.data)); });
  source.addEventListener("logout", function () { source.close(); location.href = "/login"; });
  if (chart) draw(Date.now() / 1000);
})();
