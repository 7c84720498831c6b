/* The printable report (dashboard/templates/dashboard/report.html): the print button, and
 * charts redrawn at paper size before printing (Chart.js sizes a canvas to its box, and the
 * box changes when the print stylesheet applies). A static file: the CSP forbids inline script. */
(function () {
  "use strict";

  function resizeCharts() {
    if (!window.Chart || !window.Chart.instances) return;
    Object.values(window.Chart.instances).forEach(function (chart) { chart.resize(); });
  }

  function start() {
    document.querySelectorAll("button[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    window.addEventListener("beforeprint", resizeCharts);
    window.addEventListener("afterprint", resizeCharts);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
