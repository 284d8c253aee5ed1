"""Rendering never fails on odd alerts, and nothing from an alert reaches HTML or mrkdwn unescaped."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.notify.channel import Delivery
from streams.notify.channels import build_channel, parse_channel_config
from streams.notify.channels.render import describe, html_body, slack_payload, subject, text

INJECT = "<img src=x onerror=alert(1)>\r\nBcc: victim@example.com"
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30) \
    | st.just(INJECT)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
# alert_id is the one field the pipeline guarantees (a record without it is a malformed alert).
alerts = st.fixed_dictionaries({"alert_id": st.text(min_size=1, max_size=40) | st.just(INJECT)}, optional={
    "kind": json_value, "account": json_value | st.just(INJECT),
    "from": json_value, "to": json_value, "direction": json_value, "score": json_value,
    "score_7d_ago": json_value, "at": json_value, "reason": json_value, "top_events": json_value,
    "traits": json_value, "weakest_component": json_value, "extra_field": json_value,
})

MAIL = build_channel("m", parse_channel_config({"type": "email", "host": "127.0.0.1", "from": "p@example.com",
                                                "to": ["a@example.com"], "starttls": False,
                                                "account_url": "https://app.example.com/a/{account}"}))


@settings(max_examples=150, deadline=None)
@given(alerts)
def test_any_alert_renders_safely(alert: dict[str, Any]) -> None:
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


def test_band_change_wording() -> None:
    v = describe({"account": "a", "from": None, "to": "green", "score": 75})
    assert v.change == "entered green" and v.trend is None and v.reason == "not given"
    v = describe({"account": "a", "from": "red", "to": "yellow", "direction": "up", "score": 41,
                  "score_7d_ago": 30, "reason": "sweep"})
    assert v.title == "a: engagement red → yellow (up)"
    assert v.trend == "30.0 seven days ago, +11.0"
    assert v.reason.startswith("periodic re-evaluation")
    v = describe({"account": "a", "to": "red", "from": "yellow", "reason": "usage_cliff",
                  "weakest_component": "adoption"})
    assert v.reason == "usage cliff" and v.weakest == "adoption"
