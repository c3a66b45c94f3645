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

// The proof page's check, done here and not taken from the server: the
// leaf is SHA-256(0x00 ‖ the entry's chain hash), each path hash joins
// from the left or the right as RFC 9162 §2.1.3.2 says, and the result
// must be the root. Positions stay below 2^53, so plain numbers halve
// exactly (no 32-bit bit operators on them).
(function () {
  function bytes(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function sha256(prefix, parts) {
    var length = 1 + parts.reduce(function (n, p) { return n + p.length; }, 0);
    var data = new Uint8Array(length);
    data[0] = prefix;
    var at = 1;
    parts.forEach(function (p) { data.set(p, at); at += p.length; });
    return crypto.subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); });
  }
  async function verify(index, size, entryHash, path, root) {
    if (index >= size) return false;
    var f = index, s = size - 1;
    var r = await sha256(0, [bytes(entryHash)]);
    for (var i = 0; i < path.length; i++) {
      var p = bytes(path[i]);
      if (s === 0) return false;
      if (f % 2 === 1 || f === s) {
        r = await sha256(1, [p, r]);
        while (f % 2 === 0 && f !== 0) { f = Math.floor(f / 2); s = Math.floor(s / 2); }
      } else {
        r = await sha256(1, [r, p]);
      }
      f = Math.floor(f / 2); s = Math.floor(s / 2);
    }
    return s === 0 && hex(r) === root;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("proof-verified");
    if (!el) return;
    if (!window.crypto || !crypto.subtle) {
      el.textContent = "This browser cannot compute SHA-256 here (WebCrypto needs HTTPS or localhost): check with muster prove.";
      return;
    }
    var d = el.dataset;
    var path = d.hashes ? d.hashes.split(" ") : [];
    verify(Number(d.leafIndex), Number(d.treeSize), d.entryHash, path, d.root).then(function (ok) {
      el.classList.add(ok ? "up" : "down");
      el.setAttribute("data-verified", ok ? "yes" : "no");
      el.textContent = ok
        ? "Verified in this browser: the " + path.length + " hashes lead from the entry to the root."
        : "This proof does NOT verify: the hashes do not lead from the entry to the root.";
    });
  });
})();
