/* Back office: chart of one meter's readings for the range in the form (data written by the server). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("readings-chart-data").textContent);
  var raw = data.agg === "raw";
  var datasets = [{ type: "line", label: raw ? "Power (W)" : "Average power (W)", data: data.power, borderColor: "#0a58ca", backgroundColor: "rgba(10, 88, 202, 0.15)", fill: raw, pointRadius: raw ? 0 : 2, yAxisID: "w", tension: 0.2 }];
  var scales = { w: { position: "left", beginAtZero: true, title: { display: true, text: "W" } }, x: { ticks: { maxTicksLimit: 10 } } };
  if (!raw) {
    datasets.push({ type: "bar", label: "Energy (kWh)", data: data.energy, backgroundColor: "rgba(179, 89, 0, 0.55)", yAxisID: "kwh" });
    scales.kwh = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "kWh" } };
  }
  new Chart(document.getElementById("readings-chart"), {
    data: { labels: data.labels, datasets: datasets },
    options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false }, scales: scales },
  });
})();
