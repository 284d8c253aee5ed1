"""Delivery status of alerts, read from the notifier's Redis (streams/notify/keys.py).

For an alert id, a channel is "delivered" when its `delivered` key exists (the channel accepted
the alert) and "handed off, not delivered" when only its `handoff` key does (the router put it on
the channel's stream; it is waiting, in retry, was held back by a cooldown or dead-lettered). The
channel names come from the router's `channels` set (every channel it has handed an alert to), so
the dashboard needs no copy of the notifier's config and looks every mark up by its exact key:
one SMEMBERS and one pipelined round trip of EXISTS per page, no SCAN. When Redis cannot be
reached, the status says so instead of failing the page.
"""

from __future__ import annotations

from typing import Any

from streams.notify.keys import Keys

UNREACHABLE = "unknown: the notifier's Redis is not reachable"
HANDED_OFF, DELIVERED = "handed off, not delivered", "delivered"


async def delivery_status(redis_url: str | None, prefix: str, alert_ids: list[str]
                          ) -> dict[str, dict[str, str] | str]:
    """alert id -> {channel: DELIVERED | HANDED_OFF}, or UNREACHABLE for every id."""
    if not alert_ids:
        return {}
    if redis_url is None:
        return dict.fromkeys(alert_ids, UNREACHABLE)
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    keys = Keys(prefix)
    client: Any = Redis.from_url(redis_url, decode_responses=True, socket_timeout=1.0,
                                 socket_connect_timeout=1.0)
    try:
        channels = sorted(await client.smembers(keys.channels()))
        pairs = [(aid, ch) for aid in alert_ids for ch in channels]
        async with client.pipeline(transaction=False) as pipe:
            for aid, ch in pairs:
                pipe.exists(keys.handoff(ch, aid))
                pipe.exists(keys.delivered(ch, aid))
            found = await pipe.execute() if pairs else []
    except (RedisError, OSError):
        return dict.fromkeys(alert_ids, UNREACHABLE)
    finally:
        await client.aclose()
    out: dict[str, dict[str, str] | str] = {aid: {} for aid in alert_ids}
    for k, (aid, ch) in enumerate(pairs):
        handed, delivered = found[2 * k], found[2 * k + 1]
        if delivered or handed:
            st = out[aid]
            assert isinstance(st, dict)
            st[ch] = DELIVERED if delivered else HANDED_OFF
    return out
