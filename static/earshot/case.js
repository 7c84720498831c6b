/* The case page: "is typing" for presence, saved-reply insertion, the reply target,
   keyboard shortcuts.
   Everything here is optional: without it the page works with plain forms and links. */
(function () {
  "use strict";
  var TYPING_IDLE_MS = 5000;
  var typingTimer = null;

  function body() { return document.getElementById("case-body"); }
  function replyBox() { return document.querySelector("[data-reply-box]"); }

  // Typing in the reply box flips the hidden is_typing field that the presence poll sends,
  // and polls at once so others see it without waiting for the next tick.
  document.addEventListener("input", function (event) {
    if (!event.target.matches || !event.target.matches("[data-reply-box]")) return;
    var flag = document.getElementById("case-typing");
    if (!flag) return;
    var wasTyping = flag.value === "on";
    flag.value = "on";
    if (!wasTyping) document.body.dispatchEvent(new CustomEvent("earshot:typing"));
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { flag.value = ""; }, TYPING_IDLE_MS);
  });

  // Saved replies: fetch the rendered text and insert it at the cursor.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-insert-saved]");
    if (!button) return;
    var select = document.getElementById("saved-reply");
    var box = replyBox();
    if (!select || !box) return;
    var option = select.options[select.selectedIndex];
    if (!option) return;
    event.preventDefault();
    fetch(option.dataset.renderUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.statusText);
        return response.text();
      })
      .then(function (text) {
        var start = box.selectionStart || 0, end = box.selectionEnd || 0;
        box.value = box.value.slice(0, start) + text + box.value.slice(end);
        box.focus();
        box.selectionStart = box.selectionEnd = start + text.length;
        box.dispatchEvent(new Event("input", { bubbles: true }));
      })
      .catch(function () { select.form.submit(); });
  });

  // The reply target: which customer post the reply answers. The server decides on submit;
  // here the reply box follows the chosen post at once: Send only where its source can post
  // replies, else only "Mark replied on platform" (and the reason), and whom it addresses.
  function targetChanged(select) {
    var option = select.options[select.selectedIndex];
    var form = select.form;
    if (!option || !form) return;
    var canSend = option.dataset.canSend === "true";
    var send = form.querySelector("[data-send]");
    if (send) send.hidden = !canSend;
    form.action = canSend ? form.dataset.sendUrl : form.dataset.manualUrl;
    var note = form.querySelector("[data-channel-note]");
    if (note) {
      note.textContent = !canSend ? option.dataset.whyNot
        : option.dataset.maxChars ? "At most " + option.dataset.maxChars + " characters on this platform."
        : "";
    }
    var manual = form.querySelector("details.manual");
    if (manual) manual.open = !canSend;
    var author = form.querySelector("label[for=reply-text] bdi");
    if (author) author.textContent = option.dataset.author;
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-reply-target]")) targetChanged(event.target);
  });
  // "Answer this post" on a post of the conversation chooses it without reloading the page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-answer-target]");
    if (!link) return;
    var select = document.querySelector("[data-reply-target]");
    if (!select) return;
    var id = link.getAttribute("data-answer-target");
    var found = Array.prototype.some.call(select.options, function (o) { return o.value === id; });
    if (!found) return;
    event.preventDefault();
    select.value = id;
    targetChanged(select);
    var box = replyBox();
    if (box) box.focus();
  });

  function click(selector) {
    var el = document.querySelector(selector);
    if (el && !el.disabled) el.click();
  }
  function go(attr) {
    var root = body();
    var url = root && root.getAttribute(attr);
    if (url) window.location.assign(url);
  }

  function registerShortcuts() {
    var shortcuts = window.Earshot && window.Earshot.shortcuts;
    if (!shortcuts) return;
    shortcuts.register("r", "Focus the reply box", function () { var b = replyBox(); if (b) b.focus(); });
    shortcuts.register("e", "Resolve the case", function () { click("[data-shortcut=resolve]"); });
    shortcuts.register("t", "Take the case over", function () { click("[data-shortcut=takeover]"); });
    shortcuts.register("c", "Claim the case", function () { click("[data-shortcut=claim]"); });
    shortcuts.register("s", "Open saved replies", function () {
      var s = document.getElementById("saved-reply"); if (s) s.focus();
    });
    shortcuts.register("Escape", "Back to the queue", function () { go("data-queue-url"); });
    shortcuts.register("[", "Previous case", function () { go("data-previous-url"); });
    shortcuts.register("]", "Next case", function () { go("data-next-url"); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", registerShortcuts);
  } else {
    registerShortcuts();
  }
})();
