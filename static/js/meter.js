/*
 * Meter page: live power over a WebSocket (no polling) and consumption charts
 * from the readings API. Everything the page needs is in #meter-config, written
 * by the server: the meter id, the socket path, the API URL, the time zone and the
 * chart ranges (computed on the server in the configured time zone).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("meter-config").textContent);
  var ROLLING_WINDOW_MS = config.rolling_window_seconds * 1000;
  var locale = config.locale || "en-IN";

  var fmtTime = new Intl.DateTimeFormat(locale, { timeZone: config.time_zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var fmtHour = new Intl.DateTimeFormat(locale, { timeZone: config.time_zone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hour12: false });
  var fmtDay = new Intl.DateTimeFormat(locale, { timeZone: config.time_zone, day: "numeric", month: "short" });
  var fmtMonth = new Intl.DateTimeFormat(locale, { timeZone: config.time_zone, month: "short", year: "numeric" });
  var fmtFull = new Intl.DateTimeFormat(locale, { timeZone: config.time_zone, day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var fmtNumber = function (digits) { return new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }); };
  var fmt0 = fmtNumber(0), fmt1 = fmtNumber(1), fmt2 = fmtNumber(2), fmt3 = fmtNumber(3);

  function $(id) { return document.getElementById(id); }

  // "25 Nov, 21:00" becomes two tick lines, so hourly axes stay readable on a phone.
  function twoLines(label) {
    var parts = label.split(", ");
    return parts.length === 2 ? parts : label;
  }

  function formatPower(watts) {
    if (watts === null || watts === undefined || isNaN(watts)) return { value: "–", unit: "" };
    if (Math.abs(watts) >= 1000) return { value: fmt2.format(watts / 1000), unit: "kW" };
    return { value: fmt0.format(watts), unit: "W" };
  }

  function number(value) {
    if (value === null || value === undefined || value === "") return null;
    var parsed = Number(value);
    return isNaN(parsed) ? null : parsed;
  }

  var narrow = window.matchMedia("(max-width: 600px)").matches;
  var ticks = function (wide) { return { maxTicksLimit: narrow ? 4 : wide, maxRotation: 0, autoSkip: true }; };

  var palette = { accent: "#0a58ca", accentFill: "rgba(10, 88, 202, 0.18)", green: "#1a7f37", orange: "#b35900", grid: "#eaeef2", text: "#57606a" };

  if (window.Chart) {
    Chart.defaults.color = palette.text;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.borderColor = palette.grid;
    Chart.defaults.maintainAspectRatio = false;
  }

  /* ---------------------------------------------------------------- live */

  var gaugeMax = config.gauge_max_w;
  var lastTimestamp = 0;
  var rolling = [];
  var rollingChart = null;

  function updateGauge(watts) {
    var arc = $("gauge-value");
    var length = arc.getTotalLength ? arc.getTotalLength() : 283;
    var value = Math.max(0, watts || 0);
    while (value > gaugeMax) gaugeMax *= 2;
    var fraction = Math.min(1, value / gaugeMax);
    arc.style.strokeDasharray = length;
    arc.style.strokeDashoffset = String(length * (1 - fraction));
    var maxLabel = formatPower(gaugeMax);
    $("gauge-max").textContent = maxLabel.value + " " + maxLabel.unit;
    var gauge = $("gauge");
    gauge.setAttribute("aria-valuenow", String(Math.round(value)));
    gauge.setAttribute("aria-valuemax", String(gaugeMax));
    var now = formatPower(value);
    gauge.setAttribute("aria-valuetext", now.value + " " + now.unit + " of " + maxLabel.value + " " + maxLabel.unit);
  }

  function showReading(reading) {
    if (number(reading.power_w) === null) return; // a register without power (some device formats)
    var at = Date.parse(reading.timestamp);
    if (isNaN(at) || at <= lastTimestamp) return; // out of order or repeated: keep the newest
    lastTimestamp = at;
    var power = formatPower(number(reading.power_w));
    $("live-power").textContent = power.value;
    $("live-power-unit").textContent = power.unit;
    $("live-voltage").textContent = reading.voltage === null ? "–" : fmt1.format(reading.voltage) + " V";
    $("live-current").textContent = reading.current === null ? "–" : fmt2.format(reading.current) + " A";
    $("live-pf").textContent = reading.power_factor === null ? "–" : fmt2.format(reading.power_factor);
    var when = $("live-time");
    when.textContent = fmtFull.format(new Date(at));
    when.setAttribute("datetime", new Date(at).toISOString());
    $("live-empty").hidden = true;
    $("live-figure").hidden = false;
    updateGauge(number(reading.power_w));
    addRollingPoint(at, number(reading.power_w));
  }

  function addRollingPoint(at, watts) {
    rolling.push({ at: at, watts: watts });
    var cutoff = Date.now() - ROLLING_WINDOW_MS;
    while (rolling.length && rolling[0].at < cutoff && rolling.length > 1) rolling.shift();
    drawRolling();
  }

  function drawRolling() {
    if (!window.Chart) return;
    var labels = rolling.map(function (point) { return fmtTime.format(new Date(point.at)); });
    var values = rolling.map(function (point) { return point.watts; });
    $("rolling-empty").hidden = rolling.length > 0;
    if (!rollingChart) {
      rollingChart = new Chart($("rolling-chart"), {
        type: "line",
        data: { labels: labels, datasets: [{ label: "Power (W)", data: values, borderColor: palette.accent, backgroundColor: palette.accentFill, fill: true, tension: 0.25, pointRadius: 2 }] },
        options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, title: { display: true, text: "W" } }, x: { ticks: ticks(6) } } },
      });
    } else {
      rollingChart.data.labels = labels;
      rollingChart.data.datasets[0].data = values;
      rollingChart.update("none");
    }
  }

  var stateText = {
    connecting: "Connecting…",
    open: "Connected, waiting for the meter…",
    live: "Live",
    waiting: "Connected; live data paused (broker unreachable)",
    reconnecting: "Reconnecting…",
  };

  function setConnection(state, seconds) {
    var node = $("conn");
    node.dataset.state = state;
    node.textContent = state === "reconnecting" && seconds ? "Connection lost — retrying in " + seconds + " s" : stateText[state];
  }

  function startLive() {
    var socket = new LiveSocket(config.ws_path, {
      state: function (state, seconds) { setConnection(state, seconds); },
      message: function (message) {
        if (message.type === "status") setConnection(message.live ? "live" : "waiting");
        else if (message.type === "reading") {
          showReading(message.reading);
          if (!message.latest) setConnection("live"); // readings flow again after a broker outage
        }
      },
    });
    socket.start();
  }

  /* -------------------------------------------------------------- charts */

  function fetchSeries(range, agg) {
    var url = config.readings_url + "?from=" + encodeURIComponent(range.from) + "&to=" + encodeURIComponent(range.to) + "&agg=" + agg;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          throw new Error(body.detail || "The readings service answered " + response.status + ".");
        });
      }
      return response.json();
    }).then(function (body) {
      var rows = Array.isArray(body) ? body : body.results || [];
      return rows.map(function (row) {
        return {
          at: Date.parse(row.bucket || row.timestamp),
          energy: number(row.energy_kwh),
          power: number(row.power_w),
          powerAvg: number(row.power_w_avg),
          voltage: number(row.voltage_avg),
          pf: number(row.power_factor_avg),
        };
      }).filter(function (row) { return !isNaN(row.at); });
    });
  }

  function fillTable(tableId, headers, rows) {
    var table = $(tableId);
    table.innerHTML = "";
    var head = table.createTHead().insertRow();
    headers.forEach(function (text, index) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      if (index > 0) th.className = "num";
      head.appendChild(th);
    });
    var body = table.createTBody();
    rows.forEach(function (cells) {
      var tr = body.insertRow();
      cells.forEach(function (text, index) {
        var cell = index === 0 ? document.createElement("th") : document.createElement("td");
        if (index === 0) cell.scope = "row"; else cell.className = "num";
        cell.textContent = text;
        tr.appendChild(cell);
      });
    });
  }

  var consumptionChart = null;
  var periods = {
    hour: { agg: "hour", format: fmtHour, title: "last 48 hours, per hour" },
    day: { agg: "day", format: fmtDay, title: "last 31 days, per day" },
    month: { agg: "month", format: fmtMonth, title: "last 12 months, per month" },
  };

  function showConsumption(period) {
    var spec = periods[period];
    var box = $("consumption-box");
    var empty = $("consumption-empty");
    box.setAttribute("aria-busy", "true");
    document.querySelectorAll("[data-period]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.period === period));
    });
    fetchSeries(config.ranges[period], spec.agg).then(function (rows) {
      var labels = rows.map(function (row) { return spec.format.format(new Date(row.at)); });
      var values = rows.map(function (row) { return row.energy; });
      var total = values.reduce(function (sum, value) { return sum + (value || 0); }, 0);
      var hasData = rows.some(function (row) { return row.energy !== null; });
      empty.hidden = hasData;
      if (!hasData) empty.textContent = "No readings in the " + spec.title.split(",")[0] + " — once your meter reports, its consumption appears here.";
      $("consumption-summary").textContent = hasData ? "Total " + fmt2.format(total) + " kWh in the " + spec.title.split(",")[0] + "." : "";
      $("consumption-canvas").setAttribute("aria-label", "Bar chart of energy used, " + spec.title + (hasData ? "; total " + fmt2.format(total) + " kWh" : "; no data") + ". The numbers are in the table below.");
      fillTable("consumption-table", ["Period", "Energy (kWh)"], rows.map(function (row, index) { return [labels[index], row.energy === null ? "–" : fmt3.format(row.energy)]; }));
      if (!consumptionChart) {
        consumptionChart = new Chart($("consumption-canvas"), {
          type: "bar",
          data: { labels: labels.map(twoLines), datasets: [{ label: "Energy (kWh)", data: values, backgroundColor: palette.accent, borderRadius: 3 }] },
          options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, title: { display: true, text: "kWh" } }, x: { ticks: ticks(12) } } },
        });
      } else {
        consumptionChart.data.labels = labels.map(twoLines);
        consumptionChart.data.datasets[0].data = values;
        consumptionChart.update();
      }
      box.dataset.drawn = period;
    }).catch(function (error) {
      empty.hidden = false;
      empty.textContent = "Could not load consumption: " + error.message + " Try again in a moment.";
    }).then(function () { box.setAttribute("aria-busy", "false"); });
  }

  // Legend swatches as short lines drawn like their series (solid voltage, dashed power factor).
  // Chart.js's default box strokes its border with the series' dash and looks torn, and its
  // "line" point style takes the point's 1 px width and no dash, so both are taken from the dataset.
  var lineSwatches = {
    usePointStyle: true,
    pointStyle: "line",
    pointStyleWidth: 32,
    generateLabels: function (chart) {
      return Chart.defaults.plugins.legend.labels.generateLabels(chart).map(function (item) {
        var dataset = chart.data.datasets[item.datasetIndex];
        item.strokeStyle = dataset.borderColor;
        item.lineWidth = 2.5;
        item.lineDash = dataset.borderDash || [];
        return item;
      });
    },
  };

  function showQuality() {
    var box = $("quality-box");
    var empty = $("quality-empty");
    fetchSeries(config.ranges.hour, "hour").then(function (rows) {
      rows = rows.filter(function (row) { return row.voltage !== null || row.pf !== null; });
      empty.hidden = rows.length > 0;
      var labels = rows.map(function (row) { return fmtHour.format(new Date(row.at)); });
      fillTable("quality-table", ["Hour", "Voltage (V)", "Power factor"], rows.map(function (row, index) {
        return [labels[index], row.voltage === null ? "–" : fmt1.format(row.voltage), row.pf === null ? "–" : fmt2.format(row.pf)];
      }));
      new Chart($("quality-canvas"), {
        type: "line",
        data: {
          labels: labels.map(twoLines),
          datasets: [
            { label: "Voltage (V)", data: rows.map(function (row) { return row.voltage; }), borderColor: palette.accent, backgroundColor: palette.accent, yAxisID: "v", pointRadius: 1.5, tension: 0.2 },
            { label: "Power factor", data: rows.map(function (row) { return row.pf; }), borderColor: palette.orange, backgroundColor: palette.orange, borderDash: [6, 4], yAxisID: "pf", pointRadius: 1.5, tension: 0.2 },
          ],
        },
        options: {
          animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: { legend: { labels: lineSwatches } },
          scales: {
            v: { position: "left", title: { display: true, text: "V" } },
            pf: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: "PF" } },
            x: { ticks: ticks(8) },
          },
        },
      });
      box.dataset.drawn = "true";
    }).catch(function (error) {
      empty.hidden = false;
      empty.textContent = "Could not load voltage and power factor: " + error.message;
    });
  }

  function seedRolling() {
    // The last few minutes of stored readings, so the rolling chart is not empty on arrival.
    fetchSeries(config.ranges.rolling, "raw").then(function (rows) {
      var seen = {};
      rolling.forEach(function (point) { seen[point.at] = true; });
      var cutoff = Date.now() - ROLLING_WINDOW_MS;
      rows.forEach(function (row) {
        if (row.power !== null && row.at >= cutoff && !seen[row.at]) rolling.push({ at: row.at, watts: row.power });
      });
      rolling.sort(function (a, b) { return a.at - b.at; });
      drawRolling();
    }).catch(function () { /* live readings still fill the chart */ });
  }

  function startCharts() {
    if (!window.Chart) return;
    seedRolling();
    document.querySelectorAll("[data-period]").forEach(function (button) {
      button.addEventListener("click", function () { showConsumption(button.dataset.period); });
    });
    showConsumption("hour");
    showQuality();
  }

  if (config.latest) showReading(config.latest);
  else updateGauge(0);
  startLive();
  startCharts();
})();
