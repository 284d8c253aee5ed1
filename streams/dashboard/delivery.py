"""Delivery status of alerts, read from the notifier's Redis (streams/notify/keys.py).

For an alert id, a channel is "delivered" when its `delivered` key exists (the channel accepted
the alert) and "handed off, not delivered" when only its `handoff` key does (the router put it on
the channel's stream; it is waiting, in retry, was held back by a cooldown or dead-lettered). The
channel names are found with SCAN on the key patterns, so the dashboard needs no copy of the
notifier's config. When Redis cannot be reached, the status says so instead of failing the page.
"""

from __future__ import annotations

from typing import Any

from streams.notify.keys import Keys

UNREACHABLE = "unknown: the notifier's Redis is not reachable"


def _glob(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def delivery_status(redis_url: str | None, prefix: str, alert_ids: list[str]
                          ) -> dict[str, dict[str, str] | str]:
    """alert id -> {channel: "delivered" | "handed off, not delivered"}, or UNREACHABLE for every id."""
    if not alert_ids:
        return {}
    if redis_url is None:
        return dict.fromkeys(alert_ids, UNREACHABLE)
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    keys = Keys(prefix)
    client: Any = Redis.from_url(redis_url, decode_responses=True, socket_timeout=1.0,
                                 socket_connect_timeout=1.0)
    out: dict[str, dict[str, str] | str] = {}
    try:
        for aid in alert_ids:
            if not all(c.isalnum() or c in "-_" for c in aid):
                out[aid] = {}  # not an id the notifier writes (and no glob characters in a pattern)
                continue
            status: dict[str, str] = {}
            for state, key_of in (("handed off, not delivered", keys.handoff), ("delivered", keys.delivered)):
                head, tail = key_of("\x00", aid).split("\x00")
                async for k in client.scan_iter(match=_glob(head) + "*" + _glob(tail), count=1000):
                    status[k[len(head):len(k) - len(tail)]] = state
            out[aid] = dict(sorted(status.items()))
    except (RedisError, OSError):
        return dict.fromkeys(alert_ids, UNREACHABLE)
    finally:
        await client.aclose()
    return out
