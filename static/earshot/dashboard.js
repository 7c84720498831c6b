/* The dashboard's charts (issue 12). Chart data comes from the page's
 * <script type="application/json" id="chart-data"> block (Django's json_script: never run,
 * so the Content-Security-Policy allows it); each <canvas data-chart="ID"> gets the chart ID.
 * A click on a point, bar or legend-free bar opens the mentions behind it (the links the
 * server wrote, the same as the table view's). Chart.js comes from npm (vendor/chartjs). */
(function () {
  "use strict";

  var locale = navigator.language || document.documentElement.lang || "en";
  var number = new Intl.NumberFormat(locale);

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.round(seconds);
    if (s < 60) return number.format(s) + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return number.format(m) + " min";
    var h = Math.floor(m / 60);
    if (h < 48) return number.format(h) + " h " + String(m % 60).padStart(2, "0") + " min";
    return number.format(Math.floor(h / 24)) + " d " + (h % 24) + " h";
  }

  function durationStep(spec) {
    var top = 0;
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v > top) top = v; });
    });
    var steps = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];
    for (var i = 0; i < steps.length; i++) {
      if (top / steps[i] <= 8) return steps[i];
    }
    return 604800;
  }

  function formatValue(unit, value) {
    if (value === null || value === undefined) return "–";
    if (unit === "seconds") return duration(value);
    if (unit === "percent") return number.format(value) + " %";
    return number.format(value);
  }

  function axisLabels(spec) {
    if (!spec.dates) return spec.labels;
    // Local calendar days: read as UTC midnight and written in UTC, so the reader's own
    // zone never moves a day.
    var monthly = spec.labels.length && /^\d{4}-\d{2}$/.test(spec.labels[0]);
    var format = new Intl.DateTimeFormat(locale, monthly
      ? { timeZone: "UTC", month: "short", year: "numeric" }
      : { timeZone: "UTC", day: "numeric", month: "short" });
    return spec.dates.map(function (iso) { return format.format(new Date(iso + "T00:00:00Z")); });
  }

  function draw(canvas, spec) {
    var kind = spec.kind;
    var horizontal = kind === "hbar";
    var type = kind === "line" ? "line" : "bar";
    var datasets = spec.series.map(function (s, i) {
      var colour = spec.colours && spec.colours.length ? spec.colours : s.colour;
      return {
        label: s.label,
        data: s.values,
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: type === "line" ? 2 : 0,
        pointRadius: type === "line" ? 3 : undefined,
        spanGaps: false,
        links: spec.links[i] || [],
      };
    });
    var valueAxis = {
      beginAtZero: true,
      min: spec.bounds ? spec.bounds[0] : undefined,
      max: spec.bounds ? spec.bounds[1] : undefined,
      stacked: kind === "stacked",
      ticks: {
        // Counts are whole; durations step by whole minutes or hours.
        precision: spec.unit === "count" ? 0 : undefined,
        stepSize: spec.unit === "seconds" ? durationStep(spec) : undefined,
        callback: function (value) { return formatValue(spec.unit, value); },
      },
    };
    var labelAxis = { stacked: kind === "stacked", ticks: { autoSkip: true, maxRotation: 0 } };
    var chart = new window.Chart(canvas, {
      type: type,
      data: { labels: axisLabels(spec), datasets: datasets },
      options: {
        locale: locale,
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "nearest", intersect: type !== "line", axis: horizontal ? "y" : "x" },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: {
          legend: { display: datasets.length > 1 },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                return ctx.dataset.label + ": " + formatValue(spec.unit, ctx.parsed[horizontal ? "x" : "y"]);
              },
              footer: function (items) {
                var item = items[0];
                return item && item.dataset.links[item.dataIndex] ? "Click to see these mentions" : "";
              },
            },
          },
        },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var el = elements[0];
          var link = chart.data.datasets[el.datasetIndex].links[el.index];
          if (link) window.location.assign(link);
        },
        onHover: function (event, elements) {
          var link = elements.length && chart.data.datasets[elements[0].datasetIndex].links[elements[0].index];
          event.native.target.style.cursor = link ? "pointer" : "default";
        },
      },
    });
    canvas.dataset.drawn = "true";
    return chart;
  }

  // A chart's figures as CSV, built here from the same data as the chart (a few hundred rows
  // at most). Labels can come from strangers (a feed's language, a hashtag): a cell that a
  // spreadsheet would run as a formula gets a leading "'", as the server's exports do.
  function csvCell(value) {
    var text = value === null || value === undefined ? "" : String(value);
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function csvOf(spec) {
    var unit = { seconds: " (seconds)", percent: " (%)" }[spec.unit] || "";
    var lines = [[""].concat(spec.series.map(function (s) { return s.label + unit; }))];
    spec.labels.forEach(function (label, i) {
      lines.push([label].concat(spec.series.map(function (s) { return s.values[i]; })));
    });
    return lines.map(function (cells) { return cells.map(csvCell).join(","); }).join("\r\n") + "\r\n";
  }

  function download(button, spec) {
    var blob = new Blob([csvOf(spec)], { type: "text/csv;charset=utf-8" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.dataset.filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  }

  function start() {
    var block = document.getElementById("chart-data");
    if (!block || !window.Chart) return;
    var specs = JSON.parse(block.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = specs[canvas.dataset.chart];
      if (spec) draw(canvas, spec);
    });
    document.querySelectorAll("button[data-csv]").forEach(function (button) {
      var spec = specs[button.dataset.csv];
      if (spec) button.addEventListener("click", function () { download(button, spec); });
      else button.hidden = true;
    });
    // Brand swatches in tables take the brand's chart colour (no inline styles: CSP).
    document.querySelectorAll("[data-colour]").forEach(function (el) {
      el.style.backgroundColor = el.dataset.colour;
    });
    // Keyboard: Enter on a focused chart opens its table of figures, where each is a link.
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      canvas.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") return;
        var details = canvas.closest(".panel").querySelector("details");
        if (details) {
          details.open = true;
          var link = details.querySelector("a");
          if (link) link.focus();
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
