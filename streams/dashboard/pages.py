"""Server-rendered HTML pages. Every value from the data (account ids, traits, event names, ticket
subjects) goes through `esc` (html.escape, quotes included) or `urlencode`; nothing is trusted."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from scoring.bands import BAND_NAMES
from streams.dashboard import svg

ARROWS = {"up": ("▲", "rising"), "down": ("▼", "falling"), "flat": ("▶", "flat")}


def esc(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def num(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def account_href(account: str) -> str:
    return "/account?" + urlencode({"id": account})


def band(b: str | None) -> str:
    return '<span class="band">–</span>' if b is None else f'<span class="band b-{esc(b)}">{esc(b)}</span>'


def feed_item(a: dict[str, Any]) -> str:
    """One line of the live-alerts list (live.js builds the same from server-sent events)."""
    return (f'<li><span class="at">{esc(a["at"])} </span><a href="{esc(account_href(a["account"]))}">'
            f'{esc(a["account"])}</a><span> {esc(a["kind"])} {esc(a.get("from") or "–")} → {esc(a["to"])}'
            f' ({esc(a.get("reason"))})</span></li>')


def layout(title: str, active: str, body: str, as_of: str | None,
           recent: list[dict[str, Any]] | None = None) -> str:
    feed = "".join(feed_item(a) for a in (recent or [])[:12])
    current = ' aria-current="page"'
    nav = "".join(
        f'<a href="{href}"{current if key == active else ""}>{label}</a>'
        for key, href, label in (("portfolio", "/", "Portfolio"), ("at-risk", "/at-risk", "At risk"),
                                 ("pql", "/pql", "PQLs")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(title)} · Pulse</title><link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header><span class="brand">Pulse</span><nav aria-label="Pages">{nav}</nav>
<p class="status">Data as of <span id="as-of">{esc(as_of or "–")}</span> ·
last updated <time id="last-updated">–</time> <span id="live-state">connecting…</span></p></header>
<main><h1>{esc(title)}</h1>{body}</main>
<aside aria-label="Live alerts"><h2>Live alerts</h2><ul id="live-alerts">{feed}</ul></aside>
<script src="/static/live.js"></script></body></html>"""


def table(head: list[str], rows: list[list[str]], caption: str, cls: str = "") -> str:
    th = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<table class="{cls}"><caption>{esc(caption)}</caption><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def portfolio(p: dict[str, Any]) -> str:
    parts = [f'<p class="kpi"><strong id="accounts-total">{p["accounts"]:,}</strong> accounts</p>',
             '<section class="grid">']
    eng = p["engagement_bands"]
    parts.append('<div class="card"><h2>Engagement bands</h2>' + svg.bars(eng, "Accounts per engagement band")
                 + table(["Band", "Accounts"], [[band(b), f'<span data-band="{b}">{n}</span>']
                                                for b, n in eng.items()],
                         "Accounts per engagement band", "bands engagement") + "</div>")
    if p["health_bands"] is not None:
        hb = p["health_bands"]
        parts.append('<div class="card"><h2>Health bands</h2>' + svg.bars(hb, "Accounts per health band")
                     + table(["Band", "Accounts"], [[band(b) if b in BAND_NAMES else esc(b),
                                                     f'<span data-band="{esc(b)}">{n}</span>']
                                                    for b, n in hb.items()],
                             "Accounts per health band", "bands health") + "</div>")
    parts.append('<div class="card"><h2>Engagement score distribution</h2>'
                 + svg.histogram(p["histogram"], "Engagement score histogram") + "</div>")
    mv = p["movement"]
    rows = []
    for kind in ("engagement", "health"):
        m = mv.get(kind)
        if m:
            rows.append([esc(kind), f'<span class="into">{m["into_risk"]}</span>',
                         f'<span class="out">{m["out_of_risk"]}</span>'])
    parts.append('<div class="card"><h2>Movement this week</h2>'
                 + table(["Score", "Into red/at_risk", "Out of red/at_risk"], rows,
                         "Band 7 days before the data's clock (daily history) against the band now")
                 + "</div>")
    mrr = p["mrr_by_band"]
    if mrr:
        parts.append('<div class="card"><h2>MRR by engagement band</h2>'
                     + svg.bars({b: v for b, v in mrr["mrr"].items()}, "MRR per engagement band")
                     + f'<p>MRR at risk (red + at_risk): <strong id="mrr-at-risk">{num(mrr["at_risk"], 0)}'
                       f'</strong> across {mrr["accounts_with_mrr"]:,} accounts with an MRR</p>'
                     + '<p id="mrr-sources">MRR from: ' + ", ".join(
                         f"{esc(MRR_SOURCE_LABELS[src])} {n:,}" for src, n in mrr["sources"].items() if n)
                     + "</p></div>")
    parts.append("</section>")
    bd = p["breakdown"]
    if bd:
        options = "".join(f'<option value="{esc(k)}"{" selected" if k == bd["trait"] else ""}>'
                          f"{esc(k)}</option>" for k in p["trait_keys"])
        rows = [[f'<a href="/at-risk?{esc(urlencode({"trait": bd["trait"], "value": v}))}">{esc(v)}</a>']
                + [str(c[b]) for b in BAND_NAMES] for v, c in bd["rows"].items()]
        parts.append('<section class="card"><h2>Breakdown by trait</h2><form method="get" action="/">'
                     f'<label for="trait">Trait</label> <select id="trait" name="trait">{options}</select> '
                     '<button type="submit">Show</button></form>'
                     + table(["Value", *BAND_NAMES], rows, f"Engagement bands by {bd['trait']}", "breakdown")
                     + "</section>")
    return "".join(parts)


MRR_SOURCE_LABELS = {"billing": "billing events", "billing+trait": "mrr trait + billing changes",
                     "trait": "mrr trait"}


def mrr_cell(mrr: float | None, source: str | None) -> str:
    """An MRR with where it came from (as the cell's title and a short mark)."""
    if mrr is None or source is None:
        return num(mrr, 0)
    mark = {"billing": "b", "billing+trait": "b+t", "trait": "t"}[source]
    return (f'<span title="{esc(MRR_SOURCE_LABELS[source])}">{num(mrr, 0)} '
            f'<small class="src">{mark}</small></span>')


def _select(name: str, label: str, values: list[str], current: str | None) -> str:
    opts = '<option value="">(any)</option>' + "".join(
        f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(v)}</option>' for v in values)
    return f'<label for="f-{name}">{esc(label)}</label> <select id="f-{name}" name="{name}">{opts}</select> '


def at_risk(r: dict[str, Any], trait_values: list[str]) -> str:
    f = r["filters"]
    form = ('<form method="get" action="/at-risk" class="filters">'
            + _select("band", "Band", ["red", "at_risk"], f["band"])
            + _select("trait", "Trait", r["trait_keys"], f["trait"])
            + (f'<label for="f-value">Value</label> <input id="f-value" name="value" list="trait-values" '
               f'value="{esc(f["value"] or "")}"><datalist id="trait-values">'
               + "".join(f'<option value="{esc(v)}">' for v in trait_values) + "</datalist> ")
            + _select("owner", f"Owner ({r['owner_trait']})", r["owners"], f["owner"])
            + _select("sort", "Sort by", ["mrr", "drop"], r["sort"])
            + '<button type="submit">Filter</button></form>')
    rows = []
    for a in r["accounts"]:
        arrow = ARROWS.get(a["trend"] or "")
        trend = "–" if arrow is None else (f'<span class="trend {a["trend"]}" role="img" '
                                           f'aria-label="{arrow[1]}">{arrow[0]}</span> {num(a["delta_7d"])}')
        why = a["reason"]
        reason = []
        if why["weakest_component"]:
            reason.append(f"weakest: {esc(why['weakest_component'])}")
        for t in why.get("events_lost", []):
            reason.append(f"lost: {esc(t['event'])} ({num(t['points_then'])} → {num(t['points_now'])})")
        for t in why["events_pulling_down"]:
            reason.append(f"{esc(t['event'])} ×{esc(t['count'])} ({num(t['points'])})")
        if why["tickets"]:
            reason.append("tickets: " + "; ".join(esc(s) for s in why["tickets"][-3:]))
        rows.append([f'<a class="account" href="{esc(account_href(a["account"]))}">{esc(a["account"])}</a>',
                     band(a["band"]) + " " + num(a["score"]), band(a["health_band"]) + " " + num(a["health"]),
                     trend, mrr_cell(a["mrr"], a["mrr_source"]), esc(a["days_in_band"]), esc(a["owner"]),
                     "<br>".join(reason)])
    return (form + f'<p><strong id="risk-total">{r["total"]}</strong> accounts in red or at_risk</p>'
            + table(["Account", "Engagement", "Health", "7-day trend", "MRR (b: billing, t: trait)",
                     "Days in band", "Owner", "Why"],
                    rows, "Accounts in red or at_risk", "at-risk"))


def account(a: dict[str, Any], deliveries: dict[str, Any]) -> str:
    s = a["snapshot"]
    e, h = s["engagement"], s["health"]
    parts = [f'<p class="kpi">Engagement {band(e["band"])} <strong>{num(e["score"])}</strong>'
             f' (7 days ago {num(e["score_7d_ago"])})'
             + ("" if h is None else f' · Health {band(h["band"])} <strong>{num(h["score"])}</strong>')
             + f' · last event {esc(s["last_event_at"])} · {esc(a["days_in_band"])} days in band'
             + ("" if a["mrr"] is None else f' · MRR <strong id="account-mrr">{num(a["mrr"], 0)}</strong> '
                f'<span class="src">({esc(MRR_SOURCE_LABELS[a["mrr_source"]])})</span>') + "</p>",
             '<section class="card"><h2>Timeline</h2>'
             + svg.timeline([(p["day"], p["engagement"], p["health"]) for p in a["history"]],
                            "Engagement (solid) and health (dashed) per day")
             + "</section><section class=\"grid\">"]
    if h is not None:
        parts.append('<div class="card"><h2>Health components</h2>' + table(
            ["Component", "Value"], [[esc(c) + (" (weakest)" if c == h["weakest_component"] else ""),
                                      num(v)] for c, v in h["components"].items()], "Health components")
            + ("<h3>Recent tickets</h3><ul>" + "".join(f"<li>{esc(t)}</li>" for t in h["tickets"] if t)
               + "</ul>" if any(h["tickets"]) else "") + "</div>")
    top = [[esc(t["event"]), esc(t["count"]), num(t["points"])] for t in s["top_events"]]
    lost = [[esc(t["event"]), num(t["points_then"]), num(t["points_now"])] for t in a["events_lost"]]
    parts.append('<div class="card"><h2>Top events</h2>'
                 + table(["Event", "Count", "Points"], top, "Events that moved the score most")
                 + ('<h3>Lost since 7 days ago</h3>'
                    + table(["Event", "Points then", "Points now"], lost,
                            "Events that lifted the score 7 days ago", "lost") if lost else "")
                 + "</div>")
    parts.append('<div class="card"><h2>Traits</h2>' + table(
        ["Trait", "Value"], [[esc(k), esc(v)] for k, v in s["traits"].items()], "Account traits") + "</div>")
    parts.append("</section>")
    rows = []
    for al in a["alerts"]:
        d = deliveries.get(al["alert_id"])
        status = esc(d) if isinstance(d, str) else "; ".join(
            f"{esc(ch)}: {esc(st)}" for ch, st in (d or {}).items()) or "not routed"
        rows.append([esc(al["at"]), esc(al["kind"]), esc(al.get("reason")),
                     f'{band(al.get("from"))} → {band(al["to"])}', esc(al.get("route")), status])
    parts.append(f'<section class="card" data-account="{esc(s["account"])}"><h2>Alerts</h2>'
                 + table(["At", "Kind", "Reason", "Band", "Route", "Delivery"], rows,
                         "Alerts raised for this account", "alerts") + "</section>")
    return "".join(parts)


def pql(p: dict[str, Any]) -> str:
    rows = [[f'<a href="{esc(account_href(r["account"]))}">{esc(r["account"])}</a>', esc(r["plan"]),
             band(r["band"]) + " " + num(r["score"]), num(r["health"]), esc(r["last_event_at"])]
            for r in p["accounts"]]
    return (f'<p><strong id="pql-total">{p["total"]}</strong> free or trial accounts with a green or '
            "thriving engagement band (product-qualified leads)</p>"
            + table(["Account", "Plan", "Engagement", "Health", "Last event"], rows,
                    "Product-qualified leads", "pql"))
