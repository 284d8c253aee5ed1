"""The Slack incoming-webhook channel against a real aiohttp receiver standing in for Slack."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scoring.errors import PermanentDeliveryError, RefusedTargetError, RetryableDeliveryError
from streams.contracts.alert import Alert
from streams.notify.channel import Channel, Delivery
from streams.notify.channels import build_channel, parse_channel_config
from tests.integration.channel_harness import HttpReceiver

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "T000-B000-XXXXsecretXXXX"
ALERT: dict[str, Any] = {
    "alert_id": "0badc0de0badc0de0badc0de0badc0de", "kind": "engagement", "account": "acct/42 <&>",
    "from": "yellow", "to": "red", "direction": "down", "score": 37.5, "score_7d_ago": 58.0,
    "at": "2026-11-02T10:15:00+00:00", "reason": "band_change",
    "top_events": [{"event": "Login", "count": 12, "points": 12.0},
                   {"event": "Report Exported", "count": 2, "points": 6.0}],
    "traits": {"plan": "team", "csm": "Dana"},
}


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    r = await HttpReceiver().start()
    yield r
    await r.stop()


def slack(url: str, name: str = "csm-slack", **extra: Any) -> Channel:
    table = {"type": "slack", "webhook_url": url, "allow_networks": ["127.0.0.1/32"],
             "account_url": "https://app.example.com/accounts/{account}", **extra}
    return build_channel(name, parse_channel_config(table))


async def send(ch: Channel, alert: dict[str, Any] | None = None) -> None:
    try:
        await ch.send(Delivery(channel=ch.name, route="drop-to-red", alert=Alert.parse(alert or ALERT)))
    finally:
        await ch.aclose()


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text in the blocks, joined: what a reader of the message sees."""
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        for f in b.get("fields", []):
            out.append(f["text"])
        for e in b.get("elements", []):
            out.append(e["text"]["text"] if isinstance(e.get("text"), dict) else e.get("text", ""))
    return "\n".join(out)


async def test_block_kit_message(receiver: HttpReceiver) -> None:
    ch = slack(f"{receiver.base_url}/slack/{TOKEN}")
    assert ch.kind == "slack" and TOKEN not in repr(ch)
    await send(ch)

    [got] = receiver.received
    assert got.path == f"/slack/{TOKEN}"
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.headers["Idempotency-Key"] == f"{ALERT['alert_id']}.csm-slack"
    msg = json.loads(got.body)
    # `text` is mrkdwn for Slack too (a `<!channel>` there would ping): escaped like the blocks
    assert msg["text"] == "🔴 acct/42 &lt;&amp;&gt;: engagement yellow → red (down), score 37.5 (58.0 seven days ago, -20.5)"

    blocks = msg["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "emoji": True,
                                 "text": "🔴 acct/42 <&>: engagement yellow → red (down)"}
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*Score*\n37.5", "*Trend*\n58.0 seven days ago, -20.5", "*Kind*\nengagement",
                      "*Reason*\nband change after new events", "*Plan*\nteam", "*Csm*\nDana"]
    assert blocks[2]["text"]["text"] == ("*Top contributing events*\n• Login × 12 (+12.0 points)\n"
                                         "• Report Exported × 2 (+6.0 points)")
    [button] = blocks[3]["elements"]
    assert button["url"] == "https://app.example.com/accounts/acct%2F42%20%3C%26%3E"
    # mrkdwn text escapes &, <, > (Slack would read <...> as a link); the header is plain text.
    assert "acct/42 &lt;&amp;&gt;" not in blocks[0]["text"]["text"]
    assert "route drop-to-red" in blocks[4]["elements"][0]["text"]
    assert ALERT["alert_id"] in blocks[4]["elements"][0]["text"]


async def test_health_signal_alert(receiver: HttpReceiver) -> None:
    # Shaped as streams/records.py builds a health signal alert (from == to: no band move).
    alert = {"alert_id": "h1", "kind": "health", "account": "acct-7", "from": "red", "to": "red",
             "direction": "none", "score": 31.0, "score_7d_ago": 44.0, "delta_7d": -13.0,
             "at": "2026-11-02T10:15:00+00:00", "reason": "nps_detractor", "route": "csm_call",
             "action": "detractor: high-priority CSM call within 24 h", "top_events": [],
             "traits": {"plan": "team"}, "components": {"engagement": 35.0, "support": 12.5, "adoption": None},
             "weakest_component": "support",
             "explain": {"tickets": ["Export <broken>", "SSO login fails"], "time_to_aha_s": 259200.0,
                         "detail": {"nps": 2}}}
    await send(slack(f"{receiver.base_url}/slack/{TOKEN}"), alert)
    msg = json.loads(receiver.received[0].body)
    seen = texts(msg["blocks"])
    assert msg["blocks"][0]["text"]["text"] == "🔴 acct-7: health nps detractor (in red)"
    for part in ("*Score*\n31.0", "*Trend*\n44.0 seven days ago, -13.0", "*Reason*\nsignal: NPS detractor",
                 "*Suggested action*\ndetractor: high-priority CSM call within 24 h",
                 "*Weakest component*\nsupport (12.5)",
                 "*Components*\nengagement 35.0, support 12.5, adoption n/a",
                 "*Support tickets in the window*\n• Export &lt;broken&gt;\n• SSO login fails",
                 "time to first value: 3.0 days", "nps: 2"):
        assert part in seen, part
    assert "Top contributing events" not in seen


async def test_sparse_alert_and_unknown_fields_render(receiver: HttpReceiver) -> None:
    # Only the contract's required fields, plus a field this version does not know (`Alert.extra`,
    # e.g. from a newer worker): it is listed under Details, escaped. (Fields of the wrong type or
    # an unknown reason never reach a channel: the router dead-letters them, see test_alert_contract.)
    alert = {"alert_id": "h2", "kind": "health", "account": "acct-8", "from": "green", "to": "at_risk",
             "direction": "down", "score": -3.25, "score_7d_ago": None, "at": "2026-11-02T10:15:00+00:00",
             "reason": "sweep", "weakest_component": "support", "components": {"support": 12.0},
             "nps": {"score": 2, "comment": "<b>slow</b>"}}
    await send(slack(f"{receiver.base_url}/slack/{TOKEN}"), alert)
    msg = json.loads(receiver.received[0].body)
    seen = texts(msg["blocks"])
    assert "🚨 acct-8: health green → at_risk (down)" in seen
    assert "*Score*\n-3.2" in seen or "*Score*\n-3.3" in seen
    assert "*Trend*\nno score 7 days ago" in seen
    assert "*Reason*\nperiodic re-evaluation (score decayed without new events)" in seen
    assert "*Weakest component*\nsupport (12.0)" in seen
    assert 'nps: {"score":2,"comment":"&lt;b&gt;slow&lt;/b&gt;"}' in seen
    assert "Top contributing events" not in seen


async def test_url_from_environment(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_TEST_SLACK_URL", f"{receiver.base_url}/slack/{TOKEN}")
    table = {"type": "slack", "webhook_url_env": "PULSE_TEST_SLACK_URL", "allow_networks": ["127.0.0.1/32"]}
    await send(build_channel("env-slack", parse_channel_config(table)))
    [got] = receiver.received
    assert got.path == f"/slack/{TOKEN}"
    assert not any(b["type"] == "actions" for b in json.loads(got.body)["blocks"])  # no account_url


async def test_slack_errors_are_classified_without_leaking_the_url(receiver: HttpReceiver) -> None:
    with pytest.raises(PermanentDeliveryError) as ei:
        await send(slack(f"{receiver.base_url}/status/404?body=no_service&token={TOKEN}"))
    assert ei.value.status == 404 and "no_service" in str(ei.value)
    assert TOKEN not in str(ei.value)
    with pytest.raises(RetryableDeliveryError) as ri:
        await send(slack(f"{receiver.base_url}/status/429?retry_after=30&token={TOKEN}"))
    assert ri.value.retry_after == 30.0 and TOKEN not in str(ri.value)


async def test_slack_pointed_at_loopback_is_refused(receiver: HttpReceiver,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pulse.notifier")
    with pytest.raises(RefusedTargetError):
        await send(slack(f"{receiver.base_url}/slack/{TOKEN}", allow_networks=[]))
    assert receiver.received == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "pulse.notifier"]
    assert "'csm-slack'" in line and "loopback" in line and TOKEN not in line
