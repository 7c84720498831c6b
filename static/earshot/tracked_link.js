/* "Insert tracked link" (case page, saved-reply editor): when htmx swaps in the answer, put
   the link (or the saved reply's {link:<code>}) where the cursor was in the text it belongs
   to (the reply box, or the saved reply's body in the admin), or at its end when the text
   was never edited. Without JavaScript the forms post and the page says the link to copy. */
(function () {
  "use strict";

  function textBox() {
    return document.querySelector("[data-reply-box]") || document.getElementById("id_body");
  }

  // The cursor of the text box, remembered: filling in the link form moves the focus away.
  ["input", "keyup", "click", "select"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var box = textBox();
      if (box && event.target === box) {
        box.setAttribute("data-cursor-start", String(box.selectionStart));
        box.setAttribute("data-cursor-end", String(box.selectionEnd));
      }
    });
  });

  document.addEventListener("htmx:afterSwap", function () {
    // Each answer is a new element: insert what it holds once, whatever swapped it in.
    var made = document.querySelector("#tracked-link-result [data-tracked-link]:not([data-inserted])");
    var box = textBox();
    if (!made || !box) return;
    made.setAttribute("data-inserted", "");
    var text = made.getAttribute("data-tracked-link");
    var length = box.value.length;
    var start = box.hasAttribute("data-cursor-start") ? Number(box.getAttribute("data-cursor-start")) : length;
    var end = box.hasAttribute("data-cursor-end") ? Number(box.getAttribute("data-cursor-end")) : start;
    start = Math.min(start, length);
    end = Math.min(Math.max(end, start), length);
    var before = box.value.slice(0, start), after = box.value.slice(end);
    // A space on either side, unless there is one already: the link stays a word of its own.
    if (before && !/\s$/.test(before)) text = " " + text;
    if (after && !/^\s/.test(after)) text = text + " ";
    box.value = before + text + after;
    box.focus();
    box.selectionStart = box.selectionEnd = before.length + text.length;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
