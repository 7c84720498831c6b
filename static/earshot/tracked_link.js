/* "Insert tracked link" (case page, saved-reply editor): when htmx swaps in the answer, put
   the link (or the saved reply's {link:<code>}) at the cursor of the text it belongs to: the
   reply box, or the saved reply's body in the admin. Without JavaScript the forms post and
   the page says the link to copy. */
(function () {
  "use strict";

  function textBox() {
    return document.querySelector("[data-reply-box]") || document.getElementById("id_body");
  }

  document.addEventListener("htmx:afterSwap", function () {
    // Each answer is a new element: insert what it holds once, whatever swapped it in.
    var made = document.querySelector("#tracked-link-result [data-tracked-link]:not([data-inserted])");
    var box = textBox();
    if (!made || !box) return;
    made.setAttribute("data-inserted", "");
    var text = made.getAttribute("data-tracked-link");
    var start = typeof box.selectionStart === "number" ? box.selectionStart : box.value.length;
    var end = typeof box.selectionEnd === "number" ? box.selectionEnd : start;
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
