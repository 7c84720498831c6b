/* Earshot keyboard shortcuts: a small registry, the "?" overlay, and the queue's keys.
 *
 * Pages add keys with Earshot.shortcuts.register(key, description, handler, {group}).
 * key is KeyboardEvent.key ("j", "Enter", "Escape", "[", "?"); handler gets the event and
 * the default action is prevented when it runs. Keys are ignored while typing in a field,
 * or with Ctrl/Meta/Alt held, so browser shortcuts keep working.
 *
 * describe(key, description, {group}) lists a key in the overlay without binding it; the
 * overlay shows every known key, greyed where the current page does not bind it. Registering
 * a described key without a group takes over that entry (and its group). One handler per key:
 * the latest registration wins.
 * Plain JS, no dependencies; builds the overlay with textContent only.
 */
(function () {
  "use strict";
  var Earshot = (window.Earshot = window.Earshot || {});
  if (Earshot.shortcuts) return;

  var entries = []; // {key, description, group, handler}
  var overlay = null;

  function find(key, group) {
    for (var i = 0; i < entries.length; i++) {
      if (entries[i].key === key && entries[i].group === group) return entries[i];
    }
    return null;
  }

  function add(key, description, handler, options) {
    var group = options && options.group;
    if (!group && handler) {
      // Binding a key that was only described (e.g. the case page's "r") fills that entry in.
      for (var i = 0; i < entries.length; i++) {
        if (entries[i].key === key && !entries[i].handler) group = entries[i].group;
      }
    }
    group = group || "This page";
    // A key bound on this page replaces the same key described for its group or elsewhere.
    if (handler) {
      entries.forEach(function (e) {
        if (e.key === key && e.handler) e.handler = null;
      });
    }
    var entry = find(key, group);
    if (entry) {
      entry.description = description;
      if (handler) entry.handler = handler;
    } else {
      entries.push({ key: key, description: description, group: group, handler: handler || null });
    }
    overlay = rebuild(overlay);
  }

  function register(key, description, handler, options) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    add(key, description, handler, options);
  }

  function describe(key, description, options) {
    add(key, description, null, options);
  }

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (target.isContentEditable) return true;
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return false;
    var type = (target.type || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) === -1;
  }

  function rebuild(old) {
    if (!old) return null;
    var hidden = old.hidden;
    old.remove();
    var fresh = build();
    fresh.hidden = hidden;
    return fresh;
  }

  function build() {
    var root = document.createElement("div");
    root.className = "shortcuts-overlay";
    root.hidden = true;
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "true");
    root.setAttribute("aria-label", "Keyboard shortcuts");
    var panel = document.createElement("div");
    panel.className = "shortcuts-panel";
    var title = document.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    panel.appendChild(title);
    var groups = [];
    entries.forEach(function (e) {
      if (groups.indexOf(e.group) === -1) groups.push(e.group);
    });
    groups.forEach(function (group) {
      var h = document.createElement("h3");
      h.textContent = group;
      panel.appendChild(h);
      var dl = document.createElement("dl");
      entries.forEach(function (e) {
        if (e.group !== group) return;
        var dt = document.createElement("dt");
        var kbd = document.createElement("kbd");
        kbd.textContent = e.key === "Escape" ? "Esc" : e.key;
        dt.appendChild(kbd);
        var dd = document.createElement("dd");
        dd.textContent = e.description;
        if (!e.handler) {
          dd.className = "inactive";
          dd.title = "Not on this page";
        }
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      panel.appendChild(dl);
    });
    var close = document.createElement("p");
    close.className = "help";
    close.textContent = "Press ? or Esc to close.";
    panel.appendChild(close);
    root.appendChild(panel);
    root.addEventListener("click", function (event) {
      if (event.target === root) toggle(false);
    });
    document.body.appendChild(root);
    return root;
  }

  function toggle(show) {
    if (!overlay) overlay = build();
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (overlay && !overlay.hidden && (event.key === "Escape" || event.key === "?")) {
      event.preventDefault();
      toggle(false);
      return;
    }
    if (isTyping(event.target)) {
      // Esc leaves the field, so the next key is a shortcut again.
      if (event.key === "Escape") event.target.blur();
      return;
    }
    // Enter on a focused link or button keeps its own meaning.
    if (event.key === "Enter" && event.target.closest && event.target.closest("a, button, summary")) {
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      toggle();
      return;
    }
    for (var i = 0; i < entries.length; i++) {
      if (entries[i].key === event.key && entries[i].handler) {
        event.preventDefault();
        entries[i].handler(event);
        return;
      }
    }
  });

  Earshot.shortcuts = {
    register: register,
    describe: describe,
    toggle: toggle,
    isTyping: isTyping,
  };

  describe("?", "Show or hide this list", { group: "Everywhere" });
  // The case page binds these (engagement case templates); listed everywhere so they are
  // discoverable from the queue.
  describe("r", "Reply", { group: "Case page" });
  describe("e", "Resolve", { group: "Case page" });
  describe("t", "Take over", { group: "Case page" });
  describe("s", "Saved replies", { group: "Case page" });
  describe("Escape", "Back to the queue", { group: "Case page" });
  describe("[", "Previous case", { group: "Case page" });
  describe("]", "Next case", { group: "Case page" });

  /* The queue page: rows are [data-row] with data-href; claim buttons are [data-claim]. */
  function initQueue(root) {
    var selected = -1;

    function rows() {
      return Array.prototype.slice.call(root.querySelectorAll("[data-row]"));
    }

    function select(index) {
      var all = rows();
      if (!all.length) return;
      index = Math.max(0, Math.min(all.length - 1, index));
      all.forEach(function (row, i) {
        row.classList.toggle("is-selected", i === index);
        row.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      all[index].scrollIntoView({ block: "nearest" });
      selected = index;
    }

    function current() {
      var all = rows();
      return selected >= 0 && selected < all.length ? all[selected] : null;
    }

    var g = { group: "Queue" };
    register("j", "Select the next row", function () { select(selected + 1); }, g);
    register("k", "Select the previous row", function () { select(selected - 1); }, g);
    register("Enter", "Open the selected case", function () {
      var row = current();
      if (row && row.dataset.href) window.location.assign(row.dataset.href);
    }, g);
    register("c", "Claim the selected case", function () {
      var row = current();
      var button = row && row.querySelector("[data-claim]");
      if (button) button.click();
    }, g);
    register("n", "Take the next case", function () {
      var form = root.querySelector("[data-next-case]");
      if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
    }, g);
    register("/", "Focus the filters", function () {
      var field = root.querySelector(".queue-filters select, .queue-filters input:not([type=hidden])");
      if (field) field.focus();
    }, g);

    var help = root.querySelector("[data-shortcuts-help]");
    if (help) help.addEventListener("click", function () { toggle(); });

    // Keep the selection when htmx swaps a row (claim) or the results (filters).
    document.body.addEventListener("htmx:afterSwap", function () {
      if (selected >= 0) select(Math.min(selected, rows().length - 1));
    });
  }

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    var queue = document.querySelector('[data-shortcuts="queue"]');
    if (queue) initQueue(queue);
  });
})();
