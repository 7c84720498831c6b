// Admin, add/change source: show the help of the selected kind only (listening/forms.py
// KindSelect). A static file, not an inline script: the Content-Security-Policy refuses those.
(function () {
  "use strict";

  function showHelpOf(select) {
    var list = document.getElementById(select.id + "_help");
    if (!list) {
      return;
    }
    list.querySelectorAll(".kind-help").forEach(function (help) {
      help.hidden = help.getAttribute("data-kind") !== select.value;
    });
  }

  function start() {
    document.querySelectorAll("select[data-kind-help]").forEach(function (select) {
      showHelpOf(select);
      select.addEventListener("change", function () {
        showHelpOf(select);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
