"""Dedup stage: an alert is delivered to a channel at most once, by (alert_id, channel).

Two marks in Redis, both with a TTL (`dedup_ttl_seconds`):

- the router's hand-off mark (`keys.handoff`): set in the same Lua call that XADDs the delivery,
  so an alert read twice from Kafka (the same alert twice on the topic, or a re-read after a crash
  before the offset commit) is put on a channel's stream once;
- the worker's delivered mark (`keys.delivered`): set in the MULTI that acknowledges a successful
  send, so an entry redelivered after a crash (XAUTOCLAIM) is dropped here, not sent again.

The one gap left is a crash between the receiver accepting a send and that MULTI: the entry is
sent again with the same idempotency key, which the receiver uses to drop it.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from streams.notify.keys import Keys


def is_duplicate(delivered_mark: str | None) -> bool:
    """Pure decision: a delivery whose (alert_id, channel) carries a delivered mark is not sent."""
    return delivered_mark is not None


async def check(redis: Redis, keys: Keys, channel: str, alert_id: str) -> bool:
    """True when this (alert_id, channel) was already delivered."""
    mark = await redis.get(keys.delivered(channel, alert_id))
    return is_duplicate(None if mark is None else str(mark))


def delivered_mark(now: float | None = None) -> str:
    """What the delivered mark holds: the epoch time of the delivery."""
    return repr(time.time() if now is None else now)
