// Muster workbench: the one script, ours, for what HTML alone cannot do.
// Pages work without it (every control is a link or a form); it adds the
// tree's live search and expand/collapse-all buttons.
"use strict";
(function () {
  function treeSearch(input) {
    var tree = document.getElementById(input.getAttribute("aria-controls"));
    var status = document.getElementById("tree-search-status");
    input.addEventListener("input", function () {
      var text = input.value.trim().toLowerCase();
      var items = tree.querySelectorAll("li");
      var shown = 0;
      items.forEach(function (li) { li.classList.remove("match"); li.classList.toggle("hidden", text !== ""); });
      if (text === "") { if (status) status.textContent = ""; return; }
      items.forEach(function (li) {
        var hay = (li.getAttribute("data-unit") + " " + li.getAttribute("data-name")).toLowerCase();
        if (hay.indexOf(text) < 0) return;
        shown += 1;
        li.classList.add("match");
        // Show the match, what is below it, and the path down to it.
        li.querySelectorAll("li").forEach(function (below) { below.classList.remove("hidden"); });
        for (var up = li; up && up !== tree; up = up.parentElement) {
          if (up.tagName === "LI") up.classList.remove("hidden");
          if (up.tagName === "DETAILS") up.open = true;
        }
      });
      if (status) status.textContent = shown + " unit(s) match";
    });
  }
  function openAll(button, open) {
    var tree = document.getElementById(button.getAttribute("aria-controls"));
    button.addEventListener("click", function () {
      tree.querySelectorAll("details").forEach(function (d) { d.open = open; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-tree-search]").forEach(treeSearch);
    document.querySelectorAll("button[data-expand]").forEach(function (b) { b.hidden = false; openAll(b, true); });
    document.querySelectorAll("button[data-collapse]").forEach(function (b) { b.hidden = false; openAll(b, false); });
  });
})();
