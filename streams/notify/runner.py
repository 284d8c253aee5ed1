"""`pulse notifier`: the router and one delivery worker per configured channel, in one process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.lifecycle import stop_on_signals
from streams.notify.channel import Channel
from streams.notify.config import NotifierConfig
from streams.notify.keys import Keys
from streams.notify.router import Router
from streams.notify.worker import ChannelWorker
from streams.outage import OutageLog, tcp_probe

log = logging.getLogger("pulse.notifier")
Role = Literal["all", "router", "worker"]


@dataclass(frozen=True)
class Endpoints:
    redis_url: str = field(repr=False)  # may carry the Redis password
    bootstrap: str
    topic: str
    group: str


async def run(cfg: NotifierConfig, channels: Mapping[str, Channel], where: Endpoints, *,
              role: Role = "all", stop: asyncio.Event | None = None, install_signals: bool = True,
              outage: OutageLog | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM); in-flight sends finish before returning.
    `outage`: probes Kafka and Redis while it has them down, to log when they are back."""
    stop = stop or asyncio.Event()
    if install_signals:
        stop_on_signals(stop)
    redis = Redis.from_url(where.redis_url, decode_responses=True,
                           max_connections=max(64, 4 * cfg.notifier.concurrency * max(1, len(channels))))
    keys = Keys(cfg.notifier.redis_prefix)
    tasks: list[asyncio.Task[None]] = []

    async def redis_answers() -> bool:
        try:
            return bool(await redis.ping())
        except (RedisError, OSError):
            return False

    watch = None if outage is None else asyncio.create_task(
        outage.watch({"kafka": tcp_probe(where.bootstrap), "redis": redis_answers}), name="outage-watch")
    try:
        await redis.ping()
        if role in ("all", "worker"):
            for ch in channels.values():
                tasks.append(asyncio.create_task(ChannelWorker(redis, keys, ch, cfg.notifier).run(stop),
                                                 name=f"worker:{ch.name}"))
        if role in ("all", "router"):
            router = Router(redis, keys, cfg.notifier, cfg.effective_routes())
            tasks.append(asyncio.create_task(router.run(where.bootstrap, where.topic, where.group, stop),
                                             name="router"))
        log.info("notifier up: role %s, channels %s, Redis prefix %r", role, ", ".join(channels) or "none",
                 keys.prefix)
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not waiter and t.exception() is not None:
                stop.set()
                raise t.exception()  # type: ignore[misc]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop.set()
        if watch is not None:
            watch.cancel()
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels.values():
            try:
                await ch.aclose()
            except Exception:
                log.exception("closing channel %s", ch.name)
        await redis.aclose()
