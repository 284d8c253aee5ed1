"""Slack incoming-webhook channel: one Block Kit message per alert.

The message (see `render.slack_payload`): a header with the band emoji, account and
"from → to" change; fields for score, 7-day trend with its delta, kind, reason, weakest health
component and traits; the top contributing events; a button linking to the account when
`account_url` is configured; a context line with the alert id; and a plain `text` fallback for
notifications. The webhook URL is the credential: it is never logged or put in an error message.

Slack answers 200 "ok" on success, 4xx with a short reason (`invalid_payload`, `no_service`,
`channel_is_archived`, ...) which is permanent, 429 with Retry-After when rate limited.
"""

from __future__ import annotations

import orjson

from streams.notify.channel import Delivery
from streams.notify.channels.config import SlackConfig
from streams.notify.channels.http import HttpPoster
from streams.notify.channels.render import describe, slack_payload


class SlackChannel:
    """Posts alerts to one Slack incoming webhook. One send, no retries; failures are classified."""

    kind = "slack"

    def __init__(self, name: str, config: SlackConfig) -> None:
        self.name = name
        self.config = config
        self._url = config.resolve_url(name)
        self._http = HttpPoster.for_channel(name, config)

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r})"

    def payload(self, delivery: Delivery) -> bytes:
        view = describe(delivery.alert, account_url=self.config.account_url, route=delivery.route)
        return orjson.dumps(slack_payload(view))

    async def send(self, delivery: Delivery) -> None:
        await self._http.post(self._url, self.payload(delivery), {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": delivery.idempotency_key,
        })

    async def aclose(self) -> None:
        await self._http.aclose()
