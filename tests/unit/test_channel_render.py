"""Rendering never fails on odd alerts, and nothing from an alert reaches HTML or mrkdwn unescaped."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts.alert import Alert, Band, Direction, Explain, Kind, Reason, TopEvent
from streams.notify.channel import Delivery
from streams.notify.channels import build_channel, parse_channel_config
from streams.notify.channels.render import describe, html_body, slack_payload, subject, text

INJECT = "<img src=x onerror=alert(1)>\r\nBcc: victim@example.com"
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30) \
    | st.just(INJECT)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
# Free text in an alert is whatever the telemetry sent (account ids, traits, event names, ticket
# subjects) or a newer worker added (unknown fields): any of it may be hostile.
free = st.text(max_size=40) | st.just(INJECT)
name = st.text(min_size=1, max_size=40) | st.just(INJECT)
number = st.floats(allow_nan=False, allow_infinity=False, width=32)
alerts = st.builds(
    Alert, alert_id=name, kind=st.sampled_from(Kind), account=name,
    from_band=st.none() | st.sampled_from(Band), to_band=st.sampled_from(Band),
    direction=st.sampled_from(Direction), score=number, at=name, reason=st.sampled_from(Reason),
    score_7d_ago=st.none() | number, delta_7d=st.none() | number, route=st.none() | free,
    action=st.none() | free,
    top_events=st.lists(st.builds(TopEvent, free, st.integers(0, 10**6), number), max_size=7).map(tuple),
    traits=st.dictionaries(free, json_value, max_size=10),
    components=st.none() | st.dictionaries(free, st.none() | number, max_size=5),
    weakest_component=st.none() | free,
    explain=st.none() | st.builds(Explain, st.dictionaries(free, json_value, max_size=4),
                                  st.none() | st.lists(st.none() | free, max_size=7).map(tuple),
                                  st.none() | number),
    extra=st.dictionaries(free.filter(lambda k: k not in {"alert_id", "to", "from"}), json_value, max_size=4),
)

MAIL = build_channel("m", parse_channel_config({"type": "email", "host": "127.0.0.1", "from": "p@example.com",
                                                "to": ["a@example.com"], "starttls": False,
                                                "account_url": "https://app.example.com/a/{account}"}))


@settings(max_examples=150, deadline=None)
@given(alerts)
def test_any_alert_renders_safely(alert: Alert) -> None:
    view = describe(alert, account_url="https://app.example.com/a/{account}", route="r")
    subj = subject(view, "[Pulse]")
    assert "\n" not in subj and "\r" not in subj and len(subj) <= 250
    assert text(view).endswith("\n")
    page = html_body(view)
    assert "<img" not in page and "onerror=alert(1)>" not in page
    msg = slack_payload(view)
    assert len(msg["blocks"][0]["text"]["text"]) <= 150
    for block in msg["blocks"][1:]:
        for part in [block.get("text", {}), *block.get("fields", []), *block.get("elements", [])]:
            if part.get("type") == "mrkdwn":
                assert "<img" not in part["text"]
    if view.url is not None:
        assert view.url.startswith("https://app.example.com/a/") and "<" not in view.url
    email = MAIL.message(Delivery(channel="m", route="r", alert=alert))  # type: ignore[attr-defined]
    assert "victim@example.com" not in str(email.get("Bcc", ""))
    assert email.as_bytes()  # serialisable: no header injection reached the headers


def _alert(**kw: Any) -> Alert:
    return Alert.parse({"alert_id": "x", "kind": "engagement", "account": "a", "direction": "down", "score": 75,
                        "at": "2026-11-02T10:00:00+00:00", "reason": "band_change", **kw})


def test_band_change_wording() -> None:
    v = describe(_alert(**{"from": None, "to": "green", "direction": "initial"}))
    assert v.change == "entered green" and v.trend is None and v.reason == "band change after new events"
    v = describe(_alert(**{"from": "red", "to": "yellow", "direction": "up", "score": 41, "score_7d_ago": 30,
                           "reason": "sweep"}))
    assert v.title == "a: engagement red → yellow (up)"
    assert v.trend == "30.0 seven days ago, +11.0"
    assert v.reason.startswith("periodic re-evaluation")
    v = describe(_alert(**{"to": "red", "from": "red", "direction": "down", "reason": "sharp_drop",
                           "weakest_component": "adoption"}))
    assert v.change == "sharp drop (in red)" and v.reason == "signal: sharp score drop"
    assert v.weakest == "adoption"
