"""Alert delivery status read from the notifier's keys in a real Redis (streams/notify/keys.py),
and the router registering the channels it hands alerts to (so no SCAN is needed)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from streams.dashboard.delivery import UNREACHABLE, delivery_status
from streams.dev.stack import free_port
from streams.notify.config import NotifierSettings, RouteConfig
from streams.notify.keys import Keys
from streams.notify.router import Router
from tests.integration.notifier_harness import make_alert

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_status_per_channel_from_the_notifier_keys(redis: Redis, redis_url: str, redis_prefix: str) -> None:
    k = Keys(redis_prefix)
    await redis.sadd(k.channels(), "slack", "email")
    await redis.set(k.handoff("slack", "a1"), "1")
    await redis.set(k.delivered("slack", "a1"), "1")
    await redis.set(k.handoff("email", "a1"), "1")
    await redis.set(k.handoff("email", "a2"), "1")
    await redis.set(k.handoff("webhook", "a2"), "1")  # a channel the router never registered: not asked
    await redis.set(Keys("other:").delivered("slack", "a3"), "1")  # another pipeline's key
    try:
        got = await delivery_status(redis_url, redis_prefix, ["a1", "a2", "a3", "a*"])
    finally:
        await redis.delete(Keys("other:").delivered("slack", "a3"))
    assert got == {"a1": {"email": "handed off, not delivered", "slack": "delivered"},
                   "a2": {"email": "handed off, not delivered"}, "a3": {}, "a*": {}}


async def test_no_channel_registered_means_no_status(redis_url: str, redis_prefix: str) -> None:
    assert await delivery_status(redis_url, redis_prefix + "empty:", ["a1"]) == {"a1": {}}


async def test_the_router_registers_the_channels_it_hands_off_to(redis: Redis, redis_url: str,
                                                                  redis_prefix: str) -> None:
    prefix = redis_prefix + "reg:"
    keys = Keys(prefix)
    routes = [RouteConfig.model_validate({"name": "r", "channels": ("slack", "mail")})]
    router = Router(redis, keys, NotifierSettings(), routes)
    alert = make_alert(1)
    await router.handle([(alert.to_json(), "t[0]@0")])
    assert await redis.smembers(keys.channels()) == {"slack", "mail"}
    got = await delivery_status(redis_url, prefix, [alert.alert_id])
    assert got == {alert.alert_id: {"mail": "handed off, not delivered", "slack": "handed off, not delivered"}}


async def test_unreachable_redis_is_said_not_raised() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert await delivery_status(url, "pulse:", ["a1"]) == {"a1": UNREACHABLE}
