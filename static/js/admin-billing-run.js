/* Back office: a billing run's page follows the run, asking for its progress every few seconds
   while it runs; when it stops, the page reloads once to show the finished record. */
(function () {
  "use strict";
  var panel = document.getElementById("run-progress");
  if (!panel || panel.dataset.running !== "true" || !window.fetch) {
    return;
  }
  var url = panel.dataset.progressUrl;
  var every = (parseFloat(panel.dataset.pollSeconds) || 2) * 1000;
  var bar = document.getElementById("run-progress-bar");
  var failures = document.querySelector("#run-failures tbody");

  function show(data) {
    panel.querySelectorAll("[data-field]").forEach(function (element) {
      var value = data[element.dataset.field];
      if (value !== undefined && value !== null) {
        element.textContent = String(value);
      }
    });
    bar.max = Math.max(data.meters, 1);
    bar.value = data.done;
    bar.textContent = data.done + " of " + data.meters;
    if (data.failures.length) {
      failures.replaceChildren.apply(failures, data.failures.map(function (failure) {
        var row = document.createElement("tr");
        [failure.device_id || "-", failure.stage, failure.error].forEach(function (text) {
          var cell = document.createElement("td");
          cell.textContent = text;
          row.appendChild(cell);
        });
        return row;
      }));
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (data.running) {
          window.setTimeout(poll, every);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, every * 5); /* the server is restarting or the session ended: try again later */
      });
  }

  window.setTimeout(poll, every);
})();
