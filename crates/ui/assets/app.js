// Vigilmon web UI: small progressive enhancements. Every page works without this
// script; with it, pages update themselves (polling a small endpoint of the same
// origin), relative times stay current, the dashboard filters as you type, and
// copy buttons copy.
(function () {
  "use strict";

  function span(secs) {
    if (secs < 60) return secs + " s";
    if (secs < 3600) return Math.floor(secs / 60) + " min";
    if (secs < 86400) return Math.floor(secs / 3600) + " h";
    return Math.floor(secs / 86400) + " d";
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return null;
    var secs = Math.floor((Date.now() - t) / 1000);
    if (secs < 0) return "in " + span(-secs);
    if (secs < 5) return "just now";
    return span(secs) + " ago";
  }

  function refreshTimes(root) {
    var els = (root || document).querySelectorAll("time[data-ago]");
    for (var i = 0; i < els.length; i++) {
      var text = ago(els[i].getAttribute("datetime"));
      if (text !== null) els[i].textContent = text;
    }
    // Instants in a cause: the time as the server wrote it in the viewer's zone, then
    // how long ago ("18:44:25 CET, 3 min ago").
    var at = (root || document).querySelectorAll("time[data-at]");
    for (var j = 0; j < at.length; j++) {
      var since = ago(at[j].getAttribute("datetime"));
      if (since !== null) at[j].textContent = at[j].getAttribute("data-at") + ", " + since;
    }
  }

  // How long an open incident has lasted, ticking each second; the same words as the
  // server's ("12 s", "5 min 3 s", "2 h 5 min", "3 d 4 h").
  function lasted(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function tickDurations() {
    var els = document.querySelectorAll("[data-since]");
    for (var i = 0; i < els.length; i++) {
      var t = Date.parse(els[i].getAttribute("data-since"));
      if (!isNaN(t)) els[i].textContent = lasted(Date.now() - t);
    }
  }

  // --- Live updates -------------------------------------------------------------

  var liveUrl = document.body.getAttribute("data-live");
  var status = document.getElementById("live");
  var failures = 0;

  // A dot of fixed width, so the header never moves; what it means is in its title.
  function setStatus(text, paused) {
    if (!status) return;
    status.title = text;
    status.className = paused ? "paused" : "";
  }

  function applyRows(data) {
    var changed = false;
    (data.monitors || []).forEach(function (m) {
      var rows = document.querySelectorAll('[data-m="' + m.id + '"]');
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        var st = row.querySelector(".st");
        if (st && (st.textContent !== m.label || row.getAttribute("data-state") !== m.state)) {
          st.className = "st " + m.state;
          st.textContent = m.label;
          row.setAttribute("data-state", m.state);
          changed = true;
        }
        var last = row.querySelector(".last");
        if (last) {
          if (m.checked) {
            last.innerHTML = "";
            var t = document.createElement("time");
            t.setAttribute("datetime", m.checked);
            t.setAttribute("data-ago", "");
            t.setAttribute("title", m.checked_utc);
            t.textContent = ago(m.checked);
            last.appendChild(t);
          }
        }
        var lat = row.querySelector(".lat");
        if (lat && m.latency) lat.textContent = m.latency;
        // Checked since the last poll: its uptime and beat bar as the server renders
        // them (escaped like the page).
        var up = row.querySelector(".up24");
        if (up && m.uptime !== undefined) {
          up.textContent = m.uptime;
          up.title = m.uptime_title;
        }
        var bt = row.querySelector(".bt");
        if (bt && m.beats !== undefined) bt.innerHTML = m.beats;
      }
    });
    if (data.totals) setTotals(data.totals);
    if (changed) resort();
  }

  // Worst first within a group, then by name, as the server orders them.
  var SEVERITY = { down: 0, degraded: 1, pending: 2, maintenance: 3, up: 4, paused: 5 };

  function resort() {
    var groups = document.querySelectorAll("tbody[data-group]");
    for (var g = 0; g < groups.length; g++) {
      var rows = Array.prototype.slice.call(groups[g].querySelectorAll("tr[data-m]"));
      rows.sort(function (a, b) {
        var sa = SEVERITY[a.getAttribute("data-state")], sb = SEVERITY[b.getAttribute("data-state")];
        if (sa !== sb) return (sa === undefined ? 9 : sa) - (sb === undefined ? 9 : sb);
        var na = a.getAttribute("data-name") || "", nb = b.getAttribute("data-name") || "";
        return na < nb ? -1 : na > nb ? 1 : 0;
      });
      for (var i = 0; i < rows.length; i++) groups[g].appendChild(rows[i]);
    }
  }

  // The counts by state, of every monitor (the server counts them: a page may list
  // only some).
  function setTotals(totals) {
    var out = document.querySelectorAll("[data-count]");
    for (var j = 0; j < out.length; j++) {
      var key = out[j].getAttribute("data-count");
      var n = out[j].querySelector(".n");
      if (n) n.textContent = String(totals[key] || 0);
      out[j].hidden = !totals[key];
    }
  }

  function applyParts(data) {
    var parts = data.parts || {};
    Object.keys(parts).forEach(function (name) {
      var el = document.querySelector('[data-part="' + name + '"]');
      if (el) {
        // The server renders and escapes these fragments like whole pages.
        el.innerHTML = parts[name];
        refreshTimes(el);
      }
    });
  }

  function poll() {
    if (!liveUrl) return;
    if (document.visibilityState === "hidden") {
      setTimeout(poll, 3000);
      return;
    }
    fetch(liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 204) return null;
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        failures = 0;
        if (data) {
          if (data.next) liveUrl = data.next;
          // Parts first: rows that changed are then applied to the list as it is now.
          if (data.parts) applyParts(data);
          if (data.monitors) applyRows(data);
          if (data.parts && data.parts.list && filterNow) filterNow();
        }
        setStatus("Live · updated " + new Date().toLocaleTimeString());
        setTimeout(poll, 2000);
      })
      .catch(function () {
        failures++;
        setStatus("Live updates paused, retrying…", true);
        setTimeout(poll, Math.min(30000, 2000 * Math.pow(2, failures)));
      });
  }

  // --- Dashboard filter as you type ---------------------------------------------

  var filterNow = null;
  var ATTENTION = { down: true, degraded: true, pending: true, maintenance: true };

  // Only a page that holds every monitor is filtered as you type; on a larger
  // dashboard the form asks the server (Enter), which searches every monitor.
  function setupFilter() {
    var q = document.getElementById("q");
    if (!q) return;
    var stateSel = document.getElementById("state");
    function apply() {
      if (!document.querySelector(".dash[data-complete]")) return;
      var text = q.value.trim().toLowerCase();
      var state = stateSel ? stateSel.value : "";
      var groups = document.querySelectorAll("[data-group]");
      var total = 0;
      for (var g = 0; g < groups.length; g++) {
        var rows = groups[g].querySelectorAll("[data-m]");
        var tag = (groups[g].getAttribute("data-group") || "").toLowerCase();
        var shown = 0;
        for (var i = 0; i < rows.length; i++) {
          var hay = rows[i].textContent.toLowerCase() + " " + tag;
          var ok = (!text || hay.indexOf(text) >= 0) &&
            (!state || rows[i].getAttribute("data-state") === state ||
              (state === "attention" && ATTENTION[rows[i].getAttribute("data-state")]));
          rows[i].hidden = !ok;
          if (ok) shown++;
        }
        groups[g].hidden = shown === 0;
        total += shown;
      }
      var none = document.getElementById("no-match");
      if (none) none.hidden = total > 0;
    }
    filterNow = apply;
    q.addEventListener("input", apply);
    if (stateSel) stateSel.addEventListener("change", apply);
  }

  // --- Copy buttons -------------------------------------------------------------

  function setupCopy() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      (function (b) {
        b.hidden = false;
        b.addEventListener("click", function () {
          var src = document.getElementById(b.getAttribute("data-copy"));
          if (!src || !navigator.clipboard) return;
          navigator.clipboard.writeText(src.textContent.trim()).then(function () {
            var was = b.textContent;
            b.textContent = "Copied";
            setTimeout(function () { b.textContent = was; }, 1500);
          });
        });
      })(buttons[i]);
    }
  }

  // --- Confirmations ------------------------------------------------------------

  // Delegated, so forms in parts swapped in by live updates ask too.
  function setupConfirm() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form || !form.getAttribute) return;
      var text = form.getAttribute("data-confirm");
      if (text && !window.confirm(text)) e.preventDefault();
    });
  }

  // The browser's time zone, so that forms show and read times in it (maintenance).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\/-]+$/.test(zone)) document.cookie = "vigilmon_tz=" + zone + "; path=/; SameSite=Lax; max-age=31536000";
  } catch (e) {}

  refreshTimes();
  setInterval(refreshTimes, 10000);
  setInterval(tickDurations, 1000);
  setupFilter();
  setupCopy();
  setupConfirm();
  if (liveUrl) {
    setStatus("Live");
    setTimeout(poll, 2000);
  }
})();
