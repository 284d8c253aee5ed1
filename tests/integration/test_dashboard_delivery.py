"""Alert delivery status read from the notifier's keys in a real Redis (streams/notify/keys.py)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from streams.dashboard.delivery import UNREACHABLE, delivery_status
from streams.dev.stack import free_port
from streams.notify.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_status_per_channel_from_the_notifier_keys(redis: Redis, redis_url: str, redis_prefix: str) -> None:
    k = Keys(redis_prefix)
    await redis.set(k.handoff("slack", "a1"), "1")
    await redis.set(k.delivered("slack", "a1"), "1")
    await redis.set(k.handoff("email", "a1"), "1")
    await redis.set(k.handoff("email", "a2"), "1")
    await redis.set(Keys("other:").delivered("slack", "a3"), "1")  # another pipeline's key
    try:
        got = await delivery_status(redis_url, redis_prefix, ["a1", "a2", "a3", "a*"])
    finally:
        await redis.delete(Keys("other:").delivered("slack", "a3"))
    assert got == {"a1": {"email": "handed off, not delivered", "slack": "delivered"}, "a2": {"email": "handed off, not delivered"},
                   "a3": {}, "a*": {}}


async def test_unreachable_redis_is_said_not_raised() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert await delivery_status(url, "pulse:", ["a1"]) == {"a1": UNREACHABLE}
