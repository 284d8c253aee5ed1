"""The Standard Webhooks channel against a real aiohttp receiver on 127.0.0.1.

The signature is checked with the `standardwebhooks` package (the reference implementation, not
our code) on the headers and body the receiver actually got.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scoring.errors import (
    ConfigError,
    PermanentDeliveryError,
    RefusedTargetError,
    RetryableDeliveryError,
)
from streams.contracts.alert import Alert
from streams.dev.stack import free_port
from streams.notify.channel import Channel, Delivery
from streams.notify.channels import build_channel, parse_channel_config
from streams.notify.channels.http import HttpPoster
from streams.notify.channels.ssrf import parse_networks
from tests.integration.channel_harness import HttpReceiver, self_signed_cert, server_tls

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ALLOW = ["127.0.0.1/32", "::1/128"]
ALERT: dict[str, Any] = {
    "alert_id": "5f0c1e2d3a4b5c6d7e8f90a1b2c3d4e5", "kind": "engagement", "account": "acct-42",
    "from": "yellow", "to": "red", "direction": "down", "score": 37.5, "score_7d_ago": 58.0, "delta_7d": -20.5,
    "at": "2026-11-02T10:15:00+00:00", "reason": "band_change", "route": "csm_immediate",
    "action": "contact the account at once", "top_events": [{"event": "Login", "count": 12, "points": 12.0}], "traits": {"plan": "team"},
}


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    r = await HttpReceiver().start()
    yield r
    await r.stop()


def webhook(url: str, name: str = "ops-hook", **extra: Any) -> Channel:
    table = {"type": "webhook", "url": url, "secret": SECRET, "allow_networks": ALLOW, **extra}
    return build_channel(name, parse_channel_config(table))


def delivery(channel: str = "ops-hook") -> Delivery:
    return Delivery(channel=channel, route="drop-to-red", alert=Alert.parse(ALERT), attempt=1)


async def send(ch: Channel, d: Delivery | None = None) -> None:
    try:
        await ch.send(d or delivery(ch.name))
    finally:
        await ch.aclose()


async def test_happy_path_signed_and_verified_by_the_reference_library(receiver: HttpReceiver) -> None:
    ch = webhook(f"{receiver.base_url}/hook")
    assert isinstance(ch, Channel) and ch.kind == "webhook"
    d = delivery()
    await send(ch, d)

    [got] = receiver.received
    assert got.path == "/hook"
    h = {k.lower(): v for k, v in got.headers.items()}
    assert h["content-type"] == "application/json"
    assert h["webhook-id"] == d.idempotency_key == f"{ALERT['alert_id']}.ops-hook"
    assert h["idempotency-key"] == d.idempotency_key
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 300
    assert h["webhook-signature"].startswith("v1,")
    assert h["host"] == f"127.0.0.1:{receiver.port}"
    assert json.loads(got.body) == {**ALERT, "channel": "ops-hook", "notifier_route": "drop-to-red"}

    verified = Webhook(SECRET).verify(got.body, got.headers)
    assert verified["alert_id"] == ALERT["alert_id"]

    tampered = got.body.replace(b'"score":37.5', b'"score":97.5')
    assert tampered != got.body
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, got.headers)
    other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)


async def test_hostname_is_pinned_to_the_checked_address_and_keeps_its_host_header(
        receiver: HttpReceiver) -> None:
    await send(webhook(f"http://localhost:{receiver.port}/hook"))
    [got] = receiver.received
    assert got.headers["Host"] == f"localhost:{receiver.port}"
    Webhook(SECRET).verify(got.body, got.headers)


async def test_secret_from_environment(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    env_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("PULSE_TEST_HOOK_SECRET", env_secret)
    table = {"type": "webhook", "url": f"{receiver.base_url}/hook", "secret_env": "PULSE_TEST_HOOK_SECRET",
             "allow_networks": ALLOW}
    await send(build_channel("env-hook", parse_channel_config(table)))
    [got] = receiver.received
    Webhook(env_secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body, got.headers)

    monkeypatch.delenv("PULSE_TEST_HOOK_SECRET")
    with pytest.raises(ConfigError, match="PULSE_TEST_HOOK_SECRET"):
        build_channel("env-hook", parse_channel_config(table))


@pytest.mark.parametrize("code", [500, 502, 503, 408])
async def test_server_errors_and_408_are_retryable(receiver: HttpReceiver, code: int) -> None:
    with pytest.raises(RetryableDeliveryError) as ei:
        await send(webhook(f"{receiver.base_url}/status/{code}?body=upstream+down"))
    assert ei.value.status == code and ei.value.retryable
    assert ei.value.retry_after is None
    assert f"HTTP {code}: upstream down" in str(ei.value)


async def test_429_retry_after_delta_seconds(receiver: HttpReceiver) -> None:
    with pytest.raises(RetryableDeliveryError) as ei:
        await send(webhook(f"{receiver.base_url}/status/429?retry_after=7"))
    assert ei.value.status == 429 and ei.value.retry_after == 7.0


async def test_503_retry_after_http_date(receiver: HttpReceiver) -> None:
    when = formatdate(time.time() + 120, usegmt=True)
    with pytest.raises(RetryableDeliveryError) as ei:
        await send(webhook(f"{receiver.base_url}/status/503?retry_after={when.replace(' ', '+')}"))
    assert ei.value.retry_after is not None and 60 < ei.value.retry_after <= 121


@pytest.mark.parametrize("code", [400, 401, 404, 410, 422])
async def test_other_4xx_are_permanent(receiver: HttpReceiver, code: int) -> None:
    with pytest.raises(PermanentDeliveryError) as ei:
        await send(webhook(f"{receiver.base_url}/status/{code}"))
    assert not isinstance(ei.value, RetryableDeliveryError) and not ei.value.retryable
    assert ei.value.status == code


async def test_redirect_is_permanent_and_never_followed(receiver: HttpReceiver) -> None:
    with pytest.raises(PermanentDeliveryError, match="redirect") as ei:
        await send(webhook(f"{receiver.base_url}/redirect"))
    assert ei.value.status == 302
    assert [r.path for r in receiver.received] == ["/redirect"]
    assert receiver.target_hits == 0


async def test_slow_receiver_is_a_retryable_timeout(receiver: HttpReceiver) -> None:
    with pytest.raises(RetryableDeliveryError, match="timed out"):
        await send(webhook(f"{receiver.base_url}/slow", read_timeout=0.5))
    assert [r.path for r in receiver.received] == ["/slow"]


async def test_nothing_listening_is_retryable() -> None:
    with pytest.raises(RetryableDeliveryError, match="ConnectError"):
        await send(webhook(f"http://127.0.0.1:{free_port()}/hook"))


async def test_oversize_response_is_read_only_up_to_the_cap(receiver: HttpReceiver) -> None:
    cap = 64 * 1024
    poster = HttpPoster("big", connect_timeout=5, read_timeout=10, max_response_bytes=cap,
                        allow_networks=parse_networks(ALLOW))
    try:
        reply = await poster.post(f"{receiver.base_url}/big", b"{}", {})
    finally:
        await poster.aclose()
    assert reply.status == 200 and reply.truncated and len(reply.body) == cap
    # The receiver was cut off: it could write 512 MiB, it wrote what the socket buffers took.
    await receiver.big_done.wait()
    assert receiver.big_written < 64 * 1024 * 1024


async def test_loopback_without_allow_list_is_refused_with_a_clear_log_line(
        receiver: HttpReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pulse.notifier")
    with pytest.raises(RefusedTargetError) as ei:
        await send(webhook(f"{receiver.base_url}/hook", name="no-allow", allow_networks=[]))
    assert not ei.value.retryable
    assert receiver.received == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "pulse.notifier"]
    for part in ("'no-allow'", "'127.0.0.1'", "loopback", "allow_networks", "'127.0.0.1/32'",
                 "[channels.no-allow]"):
        assert part in line, (part, line)


async def test_localhost_is_refused_after_dns_resolution(
        receiver: HttpReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pulse.notifier")
    with pytest.raises(RefusedTargetError, match=r"'localhost'.*loopback"):
        await send(webhook(f"http://localhost:{receiver.port}/hook", allow_networks=[]))
    assert receiver.received == []
    assert any("'localhost' resolves to" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("host", ["[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.7"])
async def test_literal_internal_addresses_are_refused_before_connecting(host: str) -> None:
    with pytest.raises(RefusedTargetError):
        await send(webhook(f"http://{host}:{free_port()}/hook", allow_networks=[]))


async def test_metadata_address_not_allowed_by_a_wide_network() -> None:
    with pytest.raises(RefusedTargetError, match="metadata"):
        await send(webhook("http://169.254.169.254/latest/meta-data/", allow_networks=["169.254.0.0/16"]))


async def test_https_connects_to_the_checked_ip_but_verifies_the_hostname(tmp_path: Path) -> None:
    # The certificate names only "localhost": the connection goes to the pinned 127.0.0.1, yet SNI
    # and the certificate check use the URL's host name.
    cert, key = self_signed_cert(tmp_path, "localhost")
    receiver = await HttpReceiver().start(server_tls(cert, key))
    try:
        await send(webhook(f"https://localhost:{receiver.port}/hook", ca_file=str(cert)))
        [got] = receiver.received
        assert got.headers["Host"] == f"localhost:{receiver.port}"
        Webhook(SECRET).verify(got.body, got.headers)

        # Without our CA: the public bundle does not trust it -> permanent, nothing received.
        with pytest.raises(PermanentDeliveryError, match="certificate"):
            await send(webhook(f"https://localhost:{receiver.port}/hook"))
        assert len(receiver.received) == 1
    finally:
        await receiver.stop()

    # A trusted certificate for another name: rejected by the host name check.
    other_cert, other_key = self_signed_cert(tmp_path, "other.example")
    other = await HttpReceiver().start(server_tls(other_cert, other_key))
    try:
        with pytest.raises(PermanentDeliveryError, match=r"certificate rejected \(Hostname mismatch"):
            await send(webhook(f"https://localhost:{other.port}/hook", ca_file=str(other_cert)))
        assert other.received == []
    finally:
        await other.stop()


async def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        webhook("https://hooks.example.com/x", ca_file=str(tmp_path / "missing.pem"))


async def test_connection_refused_on_one_address_falls_through_to_the_next(receiver: HttpReceiver) -> None:
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses the connection, nothing was sent,
    # so the next checked address is tried (as for a name resolving to ::1 and 127.0.0.1).
    poster = HttpPoster("multi", connect_timeout=5, read_timeout=10, max_response_bytes=1024,
                        allow_networks=parse_networks(["127.0.0.0/8"]))
    target = httpx.URL(f"http://localhost:{receiver.port}/hook")
    try:
        response = await poster._open(target, [ipaddress.ip_address("127.0.0.2"),
                                               ipaddress.ip_address("127.0.0.1")], b"{}", {})
        await response.aclose()
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            await poster._open(target, [ipaddress.ip_address("127.0.0.2")], b"{}", {})
    finally:
        await poster.aclose()
    assert [r.headers["Host"] for r in receiver.received] == [f"localhost:{receiver.port}"]
