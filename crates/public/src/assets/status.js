// Vigilmon public status pages: arrow keys within a day bar, and live updates.
// The page works without this script; it only makes it nicer.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-json");
  var version = body.getAttribute("data-version");

  // One tab stop per bar (the most recent day); arrows, Home and End move within it.
  function roving() {
    var bars = document.querySelectorAll(".bars");
    for (var b = 0; b < bars.length; b++) {
      var days = bars[b].children;
      for (var i = 0; i < days.length; i++) days[i].tabIndex = i === days.length - 1 ? 0 : -1;
    }
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target, bar = t && t.parentNode;
    if (!bar || !bar.classList || !bar.classList.contains("bars")) return;
    var next = null;
    if (e.key === "ArrowLeft") next = t.previousElementSibling;
    else if (e.key === "ArrowRight") next = t.nextElementSibling;
    else if (e.key === "Home") next = bar.firstElementChild;
    else if (e.key === "End") next = bar.lastElementChild;
    if (next) { t.tabIndex = -1; next.tabIndex = 0; next.focus(); e.preventDefault(); }
  });
  roving();

  if (!url || !window.fetch || !window.DOMParser) return;
  function tagOf(r) { return (r.headers.get("etag") || "").replace(/^W\//, "").replace(/"/g, ""); }
  function refresh() {
    return fetch(location.href, { cache: "no-cache" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main"), cur = document.getElementById("main");
      // Leave the page alone while the reader is inside it with the keyboard.
      if (!fresh || !cur || cur.contains(document.activeElement)) return;
      cur.parentNode.replaceChild(fresh, cur);
      version = doc.body.getAttribute("data-version") || version;
      roving();
    });
  }
  function poll() {
    fetch(url, { cache: "no-cache" }).then(function (r) {
      var tag = tagOf(r);
      if (r.ok && tag && tag !== version) return refresh();
    }).catch(function () {}).then(function () {
      setTimeout(poll, 20000 + Math.random() * 10000);
    });
  }
  setTimeout(poll, 20000 + Math.random() * 10000);
})();
