"""What a hostile account id, trait, event name or ticket subject can do downstream: it must not
forge a Slack line or mention/link (mrkdwn), an e-mail header, or an HTML element.

Each hostile string is put into every free-text field of an alert; the rendering is compared with
the same alert holding a plain placeholder: same lines, same headers, same HTML tags."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any

import pytest

from streams.contracts.alert import Alert
from streams.notify.channel import Delivery
from streams.notify.channels import build_channel, parse_channel_config
from streams.notify.channels.render import describe, html_body, slack_payload, subject, text

HOSTILE = {
    "newline": "acct\nInjected line",
    "crlf-header": "acct\r\nBcc: victim@example.com",
    "crlf-crlf-body": "acct\r\n\r\n<html>forged body",
    "bare-cr": "acct\rSubject: x",
    "nul": "acct\x00x",
    "ansi": "acct\x1b[31mred\x1b[0m",
    "line-separator": "acct\u2028forged",
    "paragraph-separator": "acct\u2029forged",
    "next-line-c1": "acct\x85forged",
    "vertical-tab-formfeed": "acct\x0b\x0cforged",
    "slack-channel-mention": "<!channel>",
    "slack-here": "<!here|here>",
    "slack-user-mention": "<@U012AB3CD>",
    "slack-link": "<https://evil.example/login|Reset your password>",
    "slack-newline-quote": "acct\n>*URGENT* wire money",
    "html-script": "<script>alert(1)</script>",
    "html-img": "<img src=x onerror=alert(1)>",
    "html-attr-break": "\" onmouseover=\"alert(1)",
    "html-comment": "<!-- x -->",
    "encoded-header": "=?utf-8?q?x=0D=0ABcc=3A_victim=40example=2Ecom?=",
    "long": "a" * 5000 + "\nBcc: victim@example.com",
}
PLAIN = "acct-placeholder"
MAIL = build_channel("m", parse_channel_config({
    "type": "email", "host": "127.0.0.1", "from": "pulse@example.com", "to": ["cs@example.com"],
    "starttls": False, "account_url": "https://app.example.com/a/{account}"}))


def alert(s: str) -> Alert:
    """An alert with `s` in every free-text field an event or trait can reach."""
    return Alert.parse({
        "alert_id": f"id-{s}", "kind": "engagement", "account": s, "from": "yellow", "to": "red",
        "direction": "down", "score": 37.5, "score_7d_ago": 58.0, "at": "2026-11-02T10:15:00Z",
        "reason": "band_change", "route": s, "action": s,
        "top_events": [{"event": s, "count": 3, "points": -9.0}],
        "traits": {"name": s, "plan": s, s[:30]: "value"},
        "explain": {"tickets": [s], "detail": {"note": s}},
        "custom": s,
    })


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    out = [payload["text"]]  # Slack parses the top-level `text` as mrkdwn too
    for block in payload["blocks"]:
        for part in [block.get("text", {}), *block.get("fields", []), *block.get("elements", [])]:
            if part.get("type") == "mrkdwn":
                out.append(part["text"])
    return out


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_slack_message_keeps_its_lines_and_forges_no_mention_or_link(name: str) -> None:
    s = HOSTILE[name]
    hostile = slack_payload(describe(alert(s), route=s))
    plain = slack_payload(describe(alert(PLAIN), route=PLAIN))
    assert len(hostile["blocks"]) == len(plain["blocks"])
    h_texts, p_texts = mrkdwn_texts(hostile), mrkdwn_texts(plain)
    assert [t.count("\n") for t in h_texts] == [t.count("\n") for t in p_texts]
    for t in h_texts:
        assert "<" not in t and ">" not in t.replace("&gt;", ""), t  # no <!channel>, <@U..>, <url|label>
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", t.replace("\n", "")), t
    header = hostile["blocks"][0]["text"]["text"]
    assert "\n" not in header and "\r" not in header


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_email_has_the_same_headers_and_no_injected_one(name: str) -> None:
    s = HOSTILE[name]
    msg = MAIL.message(Delivery(channel="m", route=s, alert=alert(s)))  # type: ignore[attr-defined]
    plain = MAIL.message(Delivery(channel="m", route=PLAIN, alert=alert(PLAIN)))  # type: ignore[attr-defined]
    raw = msg.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    again = email.message_from_bytes(plain.as_bytes(), policy=email.policy.default)
    assert sorted(parsed.keys()) == sorted(again.keys())
    assert "Bcc" not in parsed and parsed["To"] == "cs@example.com"
    for key in ("Subject", "X-Pulse-Alert-Id"):
        assert "\n" not in str(parsed[key]) and "\r" not in str(parsed[key])
    assert [p.get_content_type() for p in parsed.walk()] == [p.get_content_type() for p in again.walk()]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_html_body_has_the_same_elements(name: str) -> None:
    s = HOSTILE[name]
    hostile = html_body(describe(alert(s), account_url="https://app.example.com/a/{account}", route=s))
    plain = html_body(describe(alert(PLAIN), account_url="https://app.example.com/a/{account}", route=PLAIN))
    tags = re.compile(r"<\s*(/?[a-zA-Z!][^\s>/]*)")
    assert tags.findall(hostile) == tags.findall(plain)
    assert hostile.count('"') == plain.count('"')  # no attribute broken out of


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_plain_text_body_and_subject_keep_their_lines(name: str) -> None:
    s = HOSTILE[name]
    v, p = describe(alert(s), route=s), describe(alert(PLAIN), route=PLAIN)
    assert text(v).count("\n") == text(p).count("\n")
    subj = subject(v, "[Pulse]")
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", subj)
