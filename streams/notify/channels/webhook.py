"""Generic webhook channel: the alert as signed JSON, per Standard Webhooks (standardwebhooks.com).

Request::

    POST <url>
    Content-Type: application/json
    webhook-id: <Delivery.idempotency_key>          (same on every retry of the same alert)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))>
    Idempotency-Key: <Delivery.idempotency_key>

    {...the alert's fields..., "channel": "<channel>", "notifier_route": "<matched route>"}

`key` is the base64-decoded part of the channel's `whsec_...` secret. A receiver verifies with
any Standard Webhooks library (or the three lines above) and drops a `webhook-id` it has seen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import orjson

from streams.notify.channel import Delivery
from streams.notify.channels.config import WebhookConfig
from streams.notify.channels.http import HttpPoster


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message (scheme `v1`)."""
    to_sign = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode("ascii")


def webhook_body(delivery: Delivery) -> bytes:
    """The JSON body: the alert as on the `alerts` topic (its own fields untouched, including its
    suggested `route`/`action`) plus `channel` and `notifier_route`, the notifier route that matched."""
    return orjson.dumps({**delivery.alert.to_dict(), "channel": delivery.channel,
                         "notifier_route": delivery.route})


class WebhookChannel:
    """Signed JSON POSTs to one endpoint. One send, no retries; failures are classified."""

    kind = "webhook"

    def __init__(self, name: str, config: WebhookConfig, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.config = config
        self._key = config.resolve_secret(name)
        self._clock = clock
        self._http = HttpPoster.for_channel(name, config)

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r})"

    async def send(self, delivery: Delivery) -> None:
        body = webhook_body(delivery)
        msg_id = delivery.idempotency_key
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, msg_id, timestamp, body),
            "Idempotency-Key": msg_id,
        }
        await self._http.post(self.config.url, body, headers)

    async def aclose(self) -> None:
        await self._http.aclose()
