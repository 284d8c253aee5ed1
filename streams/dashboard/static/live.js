// Pulse dashboard: live alerts and "last updated" over server-sent events (/api/live).
// Every value is written with textContent / setAttribute: alert fields are data, never HTML.
(function () {
  "use strict";
  var list = document.getElementById("live-alerts");
  var updated = document.getElementById("last-updated");
  var state = document.getElementById("live-state");
  var section = document.querySelector("section[data-account]");

  function utc(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function bandCell(td, band) {
    var s = el("span", band === null || band === undefined ? "–" : band, "band b-" + band);
    td.appendChild(s);
  }
  function addToFeed(a) {
    var li = el("li", null, "new");
    var link = el("a", a.account);
    link.setAttribute("href", "/account?id=" + encodeURIComponent(a.account));
    li.appendChild(el("span", a.at + " ", "at"));
    li.appendChild(link);
    li.appendChild(el("span", " " + a.kind + " " + (a.from || "–") + " → " + a.to + " (" + a.reason + ")"));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 12) { list.removeChild(list.lastChild); }
  }
  function addToAccount(a) {
    if (!section || section.getAttribute("data-account") !== a.account) { return; }
    var body = section.querySelector("tbody");
    var tr = el("tr", null, "new live-alert");
    tr.setAttribute("data-alert-id", a.alert_id);
    tr.appendChild(el("td", a.at));
    tr.appendChild(el("td", a.kind));
    tr.appendChild(el("td", a.reason));
    var td = el("td");
    bandCell(td, a.from);
    td.appendChild(document.createTextNode(" → "));
    bandCell(td, a.to);
    tr.appendChild(td);
    tr.appendChild(el("td", a.route));
    tr.appendChild(el("td", "just raised"));
    body.insertBefore(tr, body.firstChild);
  }
  if (!window.EventSource) { state.textContent = "(no live updates in this browser)"; return; }
  var es = new EventSource("/api/live");
  es.addEventListener("status", function (ev) {
    var s = JSON.parse(ev.data);
    var b = s.behind, behind = "";
    if (b && (b.accounts > 0 || b.unread > 0)) {
      behind = ", catching up: " + b.accounts + " changed accounts not shown yet" +
        (b.accounts > 0 ? " (oldest change " + b.oldest_s + " s ago)" : "") +
        (b.unread > 0 ? ", " + b.unread + " changelog records not read yet" : "");
    }
    state.textContent = s.ready ? "· live" + behind : "· loading (" + s.phase + ")";
    if (s.updated_at) { updated.textContent = utc(s.updated_at); updated.setAttribute("datetime", new Date(s.updated_at * 1000).toISOString()); }
    var asOf = document.getElementById("as-of");
    if (s.as_of) { asOf.textContent = s.as_of; }
  });
  es.addEventListener("alert", function (ev) {
    var a = JSON.parse(ev.data);
    addToFeed(a);
    addToAccount(a);
    updated.textContent = utc(Date.now() / 1000);
  });
  es.onerror = function () { state.textContent = "· reconnecting…"; };
}());
