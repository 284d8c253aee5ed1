"""The one Protocol every delivery channel implements, and what a channel is handed.

A channel turns one `Delivery` into one outbound message (an HTTP POST, an e-mail). It returns
when the receiver accepted the message and raises a `scoring.errors.DeliveryError`
otherwise (retryable or not); it never retries, sleeps for a backoff or touches Redis itself:
the pipeline stages do that. `Delivery.idempotency_key` travels with every send (the
`webhook-id` header, an `Idempotency-Key` header, the e-mail `Message-ID`) so a receiver can
drop the rare duplicate after a crash between send and acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from streams.contracts.alert import Alert


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert on its way to one channel, as read back from the channel's Redis Stream."""

    channel: str               # the channel's name in the notifier config, e.g. "csm-slack"
    route: str                 # the route that matched, e.g. "drop-to-red"
    alert: Alert               # the alert as on the `alerts` topic (streams/contracts/alert.py)
    attempt: int = 1           # 1 for the first send, 2 for the first retry, ...

    @property
    def alert_id(self) -> str:
        return self.alert.alert_id

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and redeliveries of the same alert to the same channel."""
        return f"{self.alert_id}.{self.channel}"


@runtime_checkable
class Channel(Protocol):
    """A destination: Slack incoming webhook, generic signed webhook, e-mail over SMTP."""

    name: str
    kind: str  # "slack" | "webhook" | "email"

    async def send(self, delivery: Delivery) -> None:
        """Deliver once; raise `DeliveryError` (retryable or permanent) on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections (HTTP client pools, SMTP sessions)."""
        ...
