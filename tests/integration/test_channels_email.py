"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from scoring.errors import PermanentDeliveryError, RetryableDeliveryError
from streams.contracts.alert import Alert
from streams.dev.stack import free_port
from streams.notify.channel import Channel, Delivery
from streams.notify.channels import build_channel, parse_channel_config
from streams.notify.channels.email import message_id
from tests.integration.channel_harness import RecordingSmtpHandler, start_smtp

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALERT: dict[str, Any] = {
    "alert_id": "feedfacefeedfacefeedfacefeedface", "kind": "engagement", "account": "acct-<script>",
    "from": "green", "to": "yellow", "direction": "down", "score": 55.0, "score_7d_ago": 81.5,
    "at": "2026-11-02T10:15:00+00:00", "reason": "band_change",
    "top_events": [{"event": "Login", "count": 3, "points": 3.0}],
    "traits": {"plan": "<b>enterprise</b>"},
}


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, RecordingSmtpHandler]]:
    controller, handler = start_smtp()
    yield controller, handler
    controller.stop()


def channel(port: int, to: list[str], **extra: Any) -> Channel:
    table = {"type": "email", "host": "127.0.0.1", "port": port, "from": "pulse@example.com",
             "to": to, "starttls": False, "timeout": 10.0,
             "account_url": "https://app.example.com/accounts/{account}", **extra}
    return build_channel("csm-mail", parse_channel_config(table))


async def send(ch: Channel, alert: dict[str, Any] | None = None) -> None:
    try:
        await ch.send(Delivery(channel=ch.name, route="guidance-yellow", alert=Alert.parse(alert or ALERT)))
    finally:
        await ch.aclose()


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_multipart_text_and_html(smtp: tuple[Controller, RecordingSmtpHandler]) -> None:
    controller, handler = smtp
    ch = channel(controller.port, ["csm@example.com", "lead@example.com"])
    assert ch.kind == "email"
    await send(ch)

    [(mail_from, rcpts, raw)] = handler.envelopes
    assert mail_from == "pulse@example.com"
    assert rcpts == ["csm@example.com", "lead@example.com"]
    msg = parse(raw)
    assert msg["Subject"] == "[Pulse] 🟡 acct-<script>: engagement green → yellow (down) (score 55.0)"
    assert msg["Message-ID"] == message_id(f"{ALERT['alert_id']}.csm-mail", "pulse@example.com") \
        == f"<{ALERT['alert_id']}.csm-mail@example.com>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"

    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    text_part, html_part = plain.get_content(), html.get_content()
    for line in ("acct-<script>: engagement green → yellow (down)", "Score: 55.0",
                 "Trend: 81.5 seven days ago, -26.5", "Plan: <b>enterprise</b>",
                 "  - Login × 3 (+3.0 points)",
                 "Account: https://app.example.com/accounts/acct-%3Cscript%3E"):
        assert line in text_part, line
    assert "<script>" not in html_part and "<b>enterprise" not in html_part
    assert "acct-&lt;script&gt;" in html_part and "&lt;b&gt;enterprise&lt;/b&gt;" in html_part
    assert '<a href="https://app.example.com/accounts/acct-%3Cscript%3E">' in html_part


async def test_same_alert_same_message_id(smtp: tuple[Controller, RecordingSmtpHandler]) -> None:
    controller, handler = smtp
    await send(channel(controller.port, ["csm@example.com"]))
    await send(channel(controller.port, ["csm@example.com"]))
    ids = [parse(raw)["Message-ID"] for _, _, raw in handler.envelopes]
    assert len(ids) == 2 and ids[0] == ids[1]


async def test_recipient_550_is_permanent(smtp: tuple[Controller, RecordingSmtpHandler]) -> None:
    controller, handler = smtp
    with pytest.raises(PermanentDeliveryError, match="550") as ei:
        await send(channel(controller.port, ["reject550@example.com"]))
    assert not isinstance(ei.value, RetryableDeliveryError) and ei.value.status == 550
    assert handler.envelopes == []


async def test_recipient_451_is_retryable(smtp: tuple[Controller, RecordingSmtpHandler]) -> None:
    controller, handler = smtp
    with pytest.raises(RetryableDeliveryError, match="451") as ei:
        await send(channel(controller.port, ["busy451@example.com"]))
    assert ei.value.status == 451
    assert handler.envelopes == []


async def test_partly_refused_recipients_deliver_to_the_rest_and_warn(
        smtp: tuple[Controller, RecordingSmtpHandler], caplog: pytest.LogCaptureFixture) -> None:
    controller, handler = smtp
    caplog.set_level(logging.WARNING, logger="pulse.notifier")
    await send(channel(controller.port, ["csm@example.com", "reject550@example.com"]))
    [(_, rcpts, _)] = handler.envelopes
    assert rcpts == ["csm@example.com"]
    assert any("reject550@example.com (550" in r.getMessage() for r in caplog.records)


async def test_required_starttls_missing_is_permanent(smtp: tuple[Controller, RecordingSmtpHandler]) -> None:
    controller, handler = smtp
    with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        await send(channel(controller.port, ["csm@example.com"], starttls=True))
    assert handler.envelopes == []


async def test_no_smtp_server_is_retryable() -> None:
    with pytest.raises(RetryableDeliveryError):
        await send(channel(free_port(), ["csm@example.com"]))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_login_with_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    controller, handler = start_smtp(login=("pulse", "s3cret-pw"))
    try:
        monkeypatch.setenv("PULSE_TEST_SMTP_PASSWORD", "s3cret-pw")
        await send(channel(controller.port, ["csm@example.com"], username="pulse",
                           password_env="PULSE_TEST_SMTP_PASSWORD"))
        assert len(handler.envelopes) == 1

        with pytest.raises(PermanentDeliveryError, match="535") as ei:
            await send(channel(controller.port, ["csm@example.com"], username="pulse", password="wrong"))
        assert ei.value.status == 535 and "wrong" not in str(ei.value)
        with pytest.raises(PermanentDeliveryError, match="530"):  # no credentials at all
            await send(channel(controller.port, ["csm@example.com"]))
        assert len(handler.envelopes) == 1
    finally:
        controller.stop()
