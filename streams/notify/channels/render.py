"""One way to describe an alert, rendered four ways: subject line, plain text, HTML, Slack blocks.

`describe(alert, ...)` turns a typed `Alert` (streams/contracts/alert.py: the router has already
rejected anything malformed) into an `AlertView` of display strings; fields this version does not
know (`Alert.extra`) are listed under "Details". Every string taken from the alert is stripped of
control characters and length-capped here (traits, ticket subjects, event names and account ids
are whatever the telemetry sent); HTML output escapes it, Slack output escapes `&`, `<`, `>` as
Slack requires.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from streams.contracts.alert import Alert, Band, Direction, Explain, TopEvent

BAND_EMOJI = {Band.AT_RISK: "🚨", Band.RED: "🔴", Band.YELLOW: "🟡", Band.GREEN: "🟢", Band.THRIVING: "🚀"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MAX_TOP_EVENTS = 5
MAX_TRAITS = 8
MAX_EXTRA = 8
MAX_TICKETS = 5


def clean(value: Any, limit: int = 200) -> str:
    """A display string: `str(value)` without control characters, at most `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
            text = repr(value)
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def account_link(template: str | None, account: str) -> str | None:
    """`template` with "{account}" replaced by the URL-quoted account id (no other formatting)."""
    if not template:
        return None
    return template.replace("{account}", quote(account, safe=""))


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    account: str
    kind: str
    emoji: str
    change: str                     # "yellow → red (down)" or "entered red"
    score: str | None               # "37.5"
    trend: str | None               # "58.0 seven days ago, -20.5"
    reason: str
    action: str | None              # the suggested action the alert carries
    weakest: str | None             # health alerts: the weakest component (and its value)
    components: str | None          # health alerts: "usage 80.0, support 12.0, ..."
    at: str | None
    route: str | None
    top_events: tuple[str, ...]     # "Login × 12 (+12.0 points)"
    tickets: tuple[str, ...]        # health alerts: support ticket subjects in the window
    traits: tuple[tuple[str, str], ...]
    extra: tuple[tuple[str, str], ...]
    url: str | None

    @property
    def title(self) -> str:
        return f"{self.account}: {self.kind} {self.change}"


def _top_events(events: tuple[TopEvent, ...]) -> tuple[str, ...]:
    return tuple(f"{clean(e.event, 80)} × {e.count:g} ({e.points:+.1f} points)"
                 for e in events[:MAX_TOP_EVENTS])


def _weakest(name: str | None, comps: dict[str, float | None] | None) -> str | None:
    if name is None:
        return None
    value = None if comps is None else comps.get(name)
    return clean(name, 80) + (f" ({_fmt(value)})" if value is not None else "")


def _components(comps: dict[str, float | None] | None) -> str | None:
    if not comps:
        return None
    parts = [f"{clean(k, 30)} {_fmt(v) if v is not None else 'n/a'}" for k, v in comps.items()]
    return clean(", ".join(parts), 300)


def _explain(ex: Explain | None) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """(ticket subjects, detail rows) from a health/signal alert's `explain` object."""
    if ex is None:
        return (), []
    tickets = tuple("(no subject)" if t is None else clean(t, 120) for t in (ex.tickets or ())[:MAX_TICKETS])
    rows: list[tuple[str, str]] = []
    if ex.time_to_aha_s is not None:
        rows.append(("time to first value", f"{ex.time_to_aha_s / 86400:.1f} days"))
    rows.extend((clean(k, 40), clean(v, 200)) for k, v in ex.detail.items() if v is not None)
    return tickets, rows


def describe(alert: Alert, *, account_url: str | None = None, route: str | None = None) -> AlertView:
    account = clean(alert.account, 120) or "?"
    to_band, from_band = alert.to_band, alert.from_band
    if from_band is None:
        change = f"entered {to_band}"
    elif from_band is to_band:  # a signal: the band did not move
        change = f"{alert.reason.replace('_', ' ')} (in {to_band})"
    else:
        change = f"{from_band} → {to_band}"
        if alert.direction in (Direction.UP, Direction.DOWN):
            change += f" ({alert.direction})"
    score, before, delta = alert.score, alert.score_7d_ago, alert.delta_7d
    if delta is None and before is not None:
        delta = score - before
    trend = None
    if before is not None:
        trend = f"{_fmt(before)} seven days ago" + (f", {delta:+.1f}" if delta is not None else "")
    traits = tuple((clean(k, 40), clean(v, 100)) for k, v in list(alert.traits.items())[:MAX_TRAITS])
    tickets, details = _explain(alert.explain)
    extra = tuple([*details, *((clean(k, 40), clean(v, 200)) for k, v in alert.extra.items()
                               if v is not None)][:MAX_EXTRA])
    return AlertView(
        alert_id=clean(alert.alert_id, 80),
        account=account,
        kind=alert.kind.value,
        emoji=BAND_EMOJI[to_band],
        change=change,
        score=_fmt(score),
        trend=trend,
        reason=alert.reason.label,
        action=clean(alert.action, 300) if alert.action else None,
        weakest=_weakest(alert.weakest_component, alert.components),
        components=_components(alert.components),
        at=clean(alert.at, 40),
        route=clean(route, 80) if route else None,
        top_events=_top_events(alert.top_events),
        tickets=tickets,
        traits=traits,
        extra=extra,
        url=account_link(account_url, alert.account),
    )


def facts(v: AlertView) -> list[tuple[str, str]]:
    """The label/value pairs every rendering shows, in order."""
    rows = [("Score", v.score or "n/a"), ("Trend", v.trend or "no score 7 days ago"),
            ("Kind", v.kind), ("Reason", v.reason)]
    if v.action:
        rows.append(("Suggested action", v.action))
    if v.weakest:
        rows.append(("Weakest component", v.weakest))
    if v.components:
        rows.append(("Components", v.components))
    rows.extend((k.replace("_", " ").capitalize(), val) for k, val in v.traits)
    return rows


def header_safe(s: str) -> str:
    """A header value that no e-mail generator can decode into another header: RFC 2047
    encoded words (`=?utf-8?q?x=0D=0ABcc:...?=`) are broken up. Python's generator before
    3.11.10 / 3.12.5 (CVE-2024-6923) writes the CR/LF such a word decodes to into the message
    when it folds the header, i.e. a forged `Bcc:`."""
    return s.replace("=?", "= ?")


def subject(v: AlertView, prefix: str = "") -> str:
    score = f" (score {v.score})" if v.score else ""
    return header_safe(clean(f"{prefix} {v.emoji} {v.title}{score}".strip(), 250))


def text(v: AlertView) -> str:
    lines = [f"{v.title}", ""]
    lines += [f"{label}: {value}" for label, value in facts(v)]
    if v.top_events:
        lines += ["", "Top contributing events:"] + [f"  - {e}" for e in v.top_events]
    if v.tickets:
        lines += ["", "Support tickets in the window:"] + [f"  - {t}" for t in v.tickets]
    if v.extra:
        lines += ["", "Details:"] + [f"  {k}: {val}" for k, val in v.extra]
    if v.url:
        lines += ["", f"Account: {v.url}"]
    lines += ["", f"Alert {v.alert_id}" + (f" at {v.at}" if v.at else "")
              + (f", route {v.route}" if v.route else "")]
    return "\n".join(lines) + "\n"


def html_body(v: AlertView) -> str:
    e = html.escape
    rows = "".join(f"<tr><th align=\"left\">{e(k)}</th><td>{e(val)}</td></tr>" for k, val in facts(v))
    parts = [f"<h2>{e(v.emoji)} {e(v.title)}</h2>", f"<table>{rows}</table>"]
    if v.top_events:
        items = "".join(f"<li>{e(x)}</li>" for x in v.top_events)
        parts.append(f"<h3>Top contributing events</h3><ul>{items}</ul>")
    if v.tickets:
        items = "".join(f"<li>{e(x)}</li>" for x in v.tickets)
        parts.append(f"<h3>Support tickets in the window</h3><ul>{items}</ul>")
    if v.extra:
        items = "".join(f"<li>{e(k)}: {e(val)}</li>" for k, val in v.extra)
        parts.append(f"<h3>Details</h3><ul>{items}</ul>")
    if v.url:
        parts.append(f"<p><a href=\"{e(v.url)}\">Open {e(v.account)}</a></p>")
    foot = f"Alert {v.alert_id}" + (f" at {v.at}" if v.at else "") + (f", route {v.route}" if v.route else "")
    parts.append(f"<p><small>{e(foot)}</small></p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>\n"


def _mrkdwn(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(v: AlertView) -> dict[str, Any]:
    """An incoming-webhook message: Block Kit blocks plus the plain `text` fallback."""
    header = f"{v.emoji} {v.title}"
    if len(header) > 150:  # Slack's limit for a header block
        header = header[:149] + "…"
    fields = [{"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(val)}"} for k, val in facts(v)][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    if v.top_events:
        lines = "\n".join(f"• {_mrkdwn(x)}" for x in v.top_events)
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": f"*Top contributing events*\n{lines}"}})
    if v.tickets:
        lines = "\n".join(f"• {_mrkdwn(x)}" for x in v.tickets)
        body = f"*Support tickets in the window*\n{lines}"[:3000]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    if v.extra:
        lines = "\n".join(f"{_mrkdwn(k)}: {_mrkdwn(val)}" for k, val in v.extra)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Details*\n{lines}"[:3000]}})
    if v.url:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open account"}, "url": v.url}]})
    foot = f"alert {v.alert_id}" + (f" · {v.at}" if v.at else "") + (f" · route {v.route}" if v.route else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(foot)}]})
    fallback = f"{v.emoji} {v.title}" + (f", score {v.score}" if v.score else "") \
        + (f" ({v.trend})" if v.trend else "")
    # Slack parses the top-level `text` as mrkdwn too: `<!channel>` in an account id would ping
    return {"text": _mrkdwn(fallback), "blocks": blocks}
