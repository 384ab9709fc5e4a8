/*
 * The audit console: polls the JSON API of the location that serves it
 * (api/...), from this origin only, and writes what it gets with
 * textContent (never as HTML). Times show in the browser's zone, UTC on
 * hover. Filters live in the URL's query, so a view can be shared.
 */
"use strict";

(function () {
  var base = location.pathname.replace(/[^/]*$/, "");
  var ACTIONS = ["login_success", "login_failure", "authz_check",
    "session_create", "session_destroy", "session_invalid", "record_access",
    "bruteforce_suspected", "request_rejected"];
  var FILTERS = ["action", "severity", "user", "ip", "route", "record_type",
    "record_id", "since", "until"];
  var MAX_ROWS = 200;
  var cursor = 0;
  var feedBusy = false;
  var failures = 0;
  var statsAt = 0;

  function $(id) { return document.getElementById(id); }

  /*
   * Characters that show nothing or turn the text around them (format and
   * control characters, line and paragraph separators: U+202E, U+200B...)
   * are shown as their escapes, so an account typed as "\u202Enimda-u"
   * or "u-admin\u200B" can pass for no other one, nor reverse the text
   * after it.
   */
  var INVISIBLE = /[\p{Cf}\p{Cc}\p{Zl}\p{Zp}]/gu;

  function shown(s) {
    return String(s).replace(INVISIBLE, function (ch) {
      var h = ch.codePointAt(0).toString(16).toUpperCase();
      return "\\u" + "0000".slice(h.length) + h;
    });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = shown(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function when(iso) {
    var t = el("time");
    var d = new Date(iso);
    if (isNaN(d.getTime())) { t.textContent = String(iso || ""); return t; }
    t.dateTime = d.toISOString();
    t.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    t.textContent = d.toLocaleString();
    return t;
  }

  function api(path, params) {
    var q = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      if (params[k] !== "" && params[k] !== undefined && params[k] !== null) {
        q.set(k, params[k]);
      }
    });
    var s = q.toString();
    return base + "api/" + path + (s ? "?" + s : "");
  }

  function get(path, params) {
    return fetch(api(path, params), {
      credentials: "same-origin", cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        return { status: res.status, body: body };
      });
    });
  }

  function setStatus(text, bad) {
    var s = $("status");
    s.textContent = text;
    s.className = bad ? "bad" : "";
  }

  function sessionLost(r) {
    if (r.status === 401) {
      setStatus("Your session has ended: log in again and reload.", true);
      return true;
    }
    if (r.status === 403) {
      setStatus("Your role may not see the audit console.", true);
      return true;
    }
    return false;
  }

  /* --- filters, in the URL -------------------------------------------- */

  function readFilters() {
    var f = {};
    var form = $("filters");
    FILTERS.forEach(function (k) {
      var v = form.elements[k].value.trim();
      if ((k === "since" || k === "until") && v) {
        var d = new Date(v);
        v = isNaN(d.getTime()) ? "" : String(d.getTime());
      }
      f[k] = v;
    });
    return f;
  }

  function filtersToUrl(f) {
    var q = new URLSearchParams();
    FILTERS.forEach(function (k) { if (f[k]) { q.set(k, f[k]); } });
    var s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : "") + location.hash);
  }

  function filtersFromUrl() {
    var q = new URLSearchParams(location.search);
    var form = $("filters");
    FILTERS.forEach(function (k) {
      var v = q.get(k);
      if (v === null) { return; }
      if (k === "since" || k === "until") {
        var d = new Date(Number(v));
        if (isNaN(d.getTime())) { return; }
        var local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
        v = local.toISOString().slice(0, 16);
      }
      form.elements[k].value = v;
    });
  }

  /* --- live feed ------------------------------------------------------- */

  function outcome(ev) {
    var parts = [];
    if (ev.decision) { parts.push(ev.decision); }
    if (ev.access) { parts.push(ev.access); }
    if (ev.reason) { parts.push(ev.reason); }
    if (ev.resource_type) { parts.push(ev.resource_type + "/" + (ev.resource_id || "")); }
    if (ev.status) { parts.push(String(ev.status)); }
    return parts.join(" · ");
  }

  function showEvent(ev) {
    $("event-json").textContent = shown(JSON.stringify(ev, null, 2));
    var d = $("event-dialog");
    if (typeof d.showModal === "function") { d.showModal(); } else { d.setAttribute("open", ""); }
  }

  function feedRow(ev, fresh) {
    var tr = el("tr", null, "sev-" + (ev.severity || "info") + (fresh ? " new" : ""));
    tr.tabIndex = 0;
    tr.dataset.action = ev.action || "";
    tr.dataset.severity = ev.severity || "";
    var t = el("td"); t.appendChild(when(ev.ts)); tr.appendChild(t);
    tr.appendChild(el("td", ev.action));
    tr.appendChild(el("td", ev.user_id || ev.attempted_user || ""));
    tr.appendChild(el("td", ev.role || ""));
    tr.appendChild(el("td", ev.ip || ""));
    tr.appendChild(el("td", ev.route || ""));
    tr.appendChild(el("td", outcome(ev)));
    tr.appendChild(el("td", ev.request_id || ""));
    tr.addEventListener("click", function () { showEvent(ev); });
    tr.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showEvent(ev); }
    });
    return tr;
  }

  function pollFeed() {
    if (feedBusy) { return; }
    feedBusy = true;
    var f = readFilters();
    f.after = cursor;
    f.limit = cursor ? 200 : 100;
    get("events", f).then(function (r) {
      feedBusy = false;
      if (sessionLost(r)) { return; }
      if (r.status !== 200) {
        setStatus("The filter was refused (" + (r.body.error || r.status) + ").", true);
        return;
      }
      if (cursor && r.body.cursor < cursor) {
        /* nginx restarted: the zone starts again from 1 */
        resetFeed();
        return;
      }
      var tbody = $("feed").tBodies[0];
      var fresh = cursor !== 0;
      var first = tbody.firstChild;
      r.body.events.forEach(function (ev) {
        tbody.insertBefore(feedRow(ev, fresh), first);
      });
      while (tbody.rows.length > MAX_ROWS) { tbody.deleteRow(tbody.rows.length - 1); }
      cursor = r.body.cursor;
      failures = 0;
      /* new events: the statistics and failed logins follow soon */
      if (fresh && r.body.events.length && Date.now() - statsAt > 2000) {
        pollStats();
        pollFailed();
      }
      setStatus("Live: updated " + new Date().toLocaleTimeString() + ".", false);
    }, function () {
      feedBusy = false;
      if (++failures > 2) { setStatus("nginx is not answering; retrying.", true); }
    });
  }

  function resetFeed() {
    cursor = 0;
    var tbody = $("feed").tBodies[0];
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    filtersToUrl(readFilters());
    pollFeed();
  }

  /* --- last 24 hours --------------------------------------------------- */

  var SVG = "http://www.w3.org/2000/svg";

  function chart(hours) {
    var box = $("chart");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var svg = document.createElementNS(SVG, "svg");
    var W = 960, H = 200, pad = 24;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("preserveAspectRatio", "none");
    var max = 1;
    hours.forEach(function (h) {
      var sum = 0;
      ACTIONS.forEach(function (a) { sum += h.actions[a] || 0; });
      if (sum > max) { max = sum; }
    });
    var bw = (W - pad) / hours.length;
    hours.forEach(function (h, i) {
      var y = H - pad;
      var start = new Date(h.start);
      ACTIONS.forEach(function (a, ai) {
        var n = h.actions[a] || 0;
        if (!n) { return; }
        var bh = n / max * (H - pad - 8);
        var r = document.createElementNS(SVG, "rect");
        r.setAttribute("x", String(pad + i * bw + 1));
        r.setAttribute("y", String(y - bh));
        r.setAttribute("width", String(Math.max(bw - 2, 1)));
        r.setAttribute("height", String(bh));
        r.setAttribute("class", "c" + ai);
        var title = document.createElementNS(SVG, "title");
        title.textContent = start.toLocaleString() + ": " + n + " " + a;
        r.appendChild(title);
        svg.appendChild(r);
        y -= bh;
      });
      if (i % 3 === 0) {
        var tx = document.createElementNS(SVG, "text");
        tx.setAttribute("x", String(pad + i * bw));
        tx.setAttribute("y", String(H - 6));
        tx.setAttribute("font-size", "12");
        tx.textContent = start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        svg.appendChild(tx);
      }
    });
    var mx = document.createElementNS(SVG, "text");
    mx.setAttribute("x", "0"); mx.setAttribute("y", "14"); mx.setAttribute("font-size", "12");
    mx.textContent = String(max);
    svg.appendChild(mx);
    box.appendChild(svg);

    var legend = $("legend");
    while (legend.firstChild) { legend.removeChild(legend.firstChild); }
    ACTIONS.forEach(function (a, ai) {
      var total = 0;
      hours.forEach(function (h) { total += h.actions[a] || 0; });
      var li = el("li");
      li.appendChild(el("span", null, "c" + ai));
      li.appendChild(document.createTextNode(a + ": " + total));
      legend.appendChild(li);
    });
  }

  function fillList(id, items) {
    var ol = $(id);
    while (ol.firstChild) { ol.removeChild(ol.firstChild); }
    if (!items.length) { ol.appendChild(el("li", "none yet", "note")); }
    items.forEach(function (it) { ol.appendChild(el("li", it.key + " (" + it.count + ")")); });
  }

  function fillDl(id, pairs) {
    var dl = $(id);
    while (dl.firstChild) { dl.removeChild(dl.firstChild); }
    pairs.forEach(function (p) {
      dl.appendChild(el("dt", p[0]));
      dl.appendChild(el("dd", p[1], p[2]));
    });
  }

  function pollStats() {
    statsAt = Date.now();
    get("stats").then(function (r) {
      if (r.status !== 200) { sessionLost(r); return; }
      chart(r.body.hours);
      var s = r.body.severity;
      fillDl("severity", [["info", s.info], ["warning", s.warning], ["critical", s.critical]]);
      fillList("top-users", r.body.top.users);
      fillList("top-ips", r.body.top.ips);
      fillList("top-routes", r.body.top.routes);
      fillList("top-records", r.body.top.records);
    }, function () {});
  }

  /* --- failed logins ---------------------------------------------------- */

  function failedTable(id, rows) {
    var tbody = $(id).tBodies[0];
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    rows.forEach(function (f) {
      var tr = el("tr");
      var k = el("td", f.key);
      if (f.alert || f.detected) {
        k.appendChild(el("span", f.detected ? " brute force detected" : " brute force?", "flag"));
      }
      tr.appendChild(k);
      tr.appendChild(el("td", f.last_5m, f.alert ? "flag" : ""));
      tr.appendChild(el("td", f.last_hour));
      var t = el("td"); t.appendChild(when(f.last)); tr.appendChild(t);
      tbody.appendChild(tr);
    });
    if (!rows.length) {
      var tr = el("tr"); var td = el("td", "none in the last hour", "note");
      td.colSpan = 4; tr.appendChild(td); tbody.appendChild(tr);
    }
  }

  function pollFailed() {
    get("failed").then(function (r) {
      if (r.status !== 200) { sessionLost(r); return; }
      var b = r.body;
      failedTable("failed-ip", b.ip);
      failedTable("failed-user", b.attempted_user);
      /* each key set apart as a value: no typed name reads as the sentence */
      var a = $("failed-alert");
      var n = 0;
      while (a.firstChild) { a.removeChild(a.firstChild); }
      b.ip.concat(b.attempted_user).forEach(function (f) {
        if (f.alert) {
          if (n++) { a.appendChild(document.createTextNode("; ")); }
          a.appendChild(document.createTextNode(f.last_5m + " failed attempts from "));
          a.appendChild(el("q", f.key, "key"));
          a.appendChild(document.createTextNode(" in the last 5 minutes"));
        }
      });
      a.hidden = !n;
    }, function () {});
  }

  /* --- history: a record, a user ----------------------------------------- */

  var RECORD_COLS = ["user_id", "role", "access", "ip", "request_id"];
  var USER_COLS = ["action", "route", "record", "outcome", "ip", "request_id"];

  function historyRow(row, cols) {
    var tr = el("tr");
    var t = el("td"); t.appendChild(when(row.ts)); tr.appendChild(t);
    cols.forEach(function (c) { tr.appendChild(el("td", row[c] === null ? "" : row[c])); });
    return tr;
  }

  function userRowFromEvent(ev) {
    return { ts: ev.ts, action: ev.action, route: ev.route || "",
      record: ev.resource_type ? ev.resource_type + "/" + ev.resource_id : "",
      outcome: outcome(ev), ip: ev.ip || "", request_id: ev.request_id || "" };
  }

  function userRowFromDb(row) {
    return { ts: row.ts, action: row.action, route: row.route || "",
      record: row.resource_type ? row.resource_type + "/" + row.resource_id : "",
      outcome: [row.access, row.reason, row.status].filter(Boolean).join(" · "),
      ip: row.ip || "", request_id: row.request_id || "" };
  }

  function lookup(kind, offset) {
    var user = kind === "user";
    var params = user ? { id: $("u-id").value.trim() }
                      : { type: $("r-type").value.trim(), id: $("r-id").value.trim() };
    var table = $(kind).tBodies[0];
    var note = $(kind + "-note");
    var more = $(kind + "-more");
    var csv = $(kind + "-csv");
    if (!offset) { while (table.firstChild) { table.removeChild(table.firstChild); } }
    params.offset = offset || 0;
    note.textContent = "Looking…";
    get(user ? "user" : "record", params).then(function (r) {
      if (sessionLost(r)) { note.textContent = ""; return; }
      if (r.status === 200) {
        r.body.rows.forEach(function (row) {
          table.appendChild(user ? historyRow(userRowFromDb(row), USER_COLS)
                                 : historyRow(row, RECORD_COLS));
        });
        note.textContent = table.rows.length ? "From PostgreSQL, newest first."
                                             : "No access recorded.";
        more.hidden = !r.body.more;
        more.dataset.offset = String((offset || 0) + r.body.rows.length);
        csv.href = api(user ? "user.csv" : "record.csv", params);
        csv.hidden = false;
        return;
      }
      more.hidden = true;
      csv.hidden = true;
      if (r.status === 400) { note.textContent = "That value cannot be searched."; return; }
      if (r.body.error === "history_not_configured") {
        note.textContent = "The full history needs PostgreSQL: set audit_console_pg " +
          "(docs/console.md). Below: what the recent events show.";
      } else {
        note.textContent = "PostgreSQL is not answering (" + (r.body.error || r.status) +
          "). Below: what the recent events show.";
      }
      var f = user ? { user: params.id, limit: 200 }
                   : { action: "record_access", record_type: params.type,
                       record_id: params.id, limit: 200 };
      get("events", f).then(function (e) {
        if (e.status !== 200) { return; }
        e.body.events.forEach(function (ev) {
          table.appendChild(user ? historyRow(userRowFromEvent(ev), USER_COLS)
                                 : historyRow(ev, RECORD_COLS));
        });
      }, function () {});
    }, function () { note.textContent = "nginx is not answering."; });
  }

  /* --- health ------------------------------------------------------------ */

  function pollHealth() {
    get("health").then(function (r) {
      if (r.status !== 200) { sessionLost(r); return; }
      var h = r.body;
      var rows = [["events kept for the console", h.console.kept],
                  ["history (PostgreSQL)", h.console.history ? "configured" : "not configured"]];
      if (h.zone) {
        rows.push(["PostgreSQL: workers connected", h.pg.connected + " of " + h.workers,
                   h.pg.connected < h.workers ? "bad" : "ok"]);
        rows.push(["PostgreSQL: queue", h.pg.queue_bytes + " bytes"]);
        rows.push(["PostgreSQL: spool", h.pg.spool_bytes + " bytes", h.pg.spool_bytes ? "bad" : ""]);
        rows.push(["PostgreSQL: rows behind", h.pg.rows_behind]);
        rows.push(["error tracker: sent / dropped", h.tracker.sent + " / " + h.tracker.dropped]);
        rows.push(["error tracker: breaker", h.tracker.breaker_open ? "open" : "closed",
                   h.tracker.breaker_open ? "bad" : "ok"]);
        rows.push(["events lost", h.events_lost, h.events_lost ? "bad" : "ok"]);
        rows.push(["chains (worker slots used)", h.chains]);
      }
      fillDl("health", rows);
    }, function () {});
  }

  /* audit.verify_chain() over the last day, from PostgreSQL */
  function pollChain() {
    get("chain").then(function (r) {
      var p = $("chain");
      if (sessionLost(r)) { return; }
      if (r.status !== 200) {
        p.className = "note";
        p.textContent = r.body.error === "history_not_configured"
          ? "Needs PostgreSQL (audit_console_pg): run SELECT * FROM audit.verify_chain() there."
          : "Not checked: PostgreSQL did not answer (" + (r.body.error || r.status) + ").";
        return;
      }
      var bad = r.body.rows.filter(function (c) { return c.ok !== "t"; });
      p.className = bad.length ? "bad" : "ok";
      p.textContent = bad.length
        ? bad.length + " of " + r.body.rows.length + " chains broken: " + bad.map(function (c) {
            return c.producer + " (missing " + c.missing + ", broken links " + c.broken_links +
              ", tampered " + c.tampered + ")"; }).join("; ")
        : r.body.rows.length + " chains checked, all intact.";
    }, function () {});
  }

  /* --- start --------------------------------------------------------------- */

  document.addEventListener("DOMContentLoaded", function () {
    filtersFromUrl();
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); resetFeed(); });
    $("filters").addEventListener("change", function () { resetFeed(); });
    $("f-clear").addEventListener("click", function () { $("filters").reset(); resetFeed(); });
    $("record-form").addEventListener("submit", function (e) { e.preventDefault(); lookup("record", 0); });
    $("user-form").addEventListener("submit", function (e) { e.preventDefault(); lookup("user", 0); });
    $("record-more").addEventListener("click", function () {
      lookup("record", Number($("record-more").dataset.offset)); });
    $("user-more").addEventListener("click", function () {
      lookup("user", Number($("user-more").dataset.offset)); });
    filtersToUrl(readFilters());
    pollFeed(); pollStats(); pollFailed(); pollHealth(); pollChain();
    setInterval(pollChain, 60000);
    setInterval(pollFeed, 1000);
    setInterval(pollFailed, 2000);
    setInterval(pollHealth, 5000);
    setInterval(pollStats, 10000);
  });
}());
