"""Router: the `alerts` topic (Kafka consumer group) -> routes -> per-channel Redis Streams.

For each batch read from Kafka: decode and route every alert, hand each (alert, channel) off
with one Lua call that sets the hand-off mark and XADDs the delivery only if the mark was not
there (so a re-read alert is not handed off twice), pipeline those calls in one round trip, and
only then commit the Kafka offsets. A crash before the commit re-reads the batch; the marks make
the second hand-off a no-op. A record that is not a valid alert is logged, counted and
dead-lettered; it never stops the router.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from scoring.errors import MalformedAlertError
from streams.contracts.alert import Alert
from streams.kafka import kafka_auth
from streams.notify import dlq, metrics
from streams.notify.config import NotifierSettings, RouteConfig
from streams.notify.entry import Entry
from streams.notify.keys import Keys
from streams.notify.route import route_alert

log = logging.getLogger("pulse.notifier")

# KEYS[1] the hand-off mark, KEYS[2] the channel stream; ARGV[1] mark TTL (s), ARGV[2..] fields.
_HANDOFF = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
end
return false
"""


@dataclass
class RouterStats:
    read: int = 0
    handed_off: int = 0
    already: int = 0       # (alert, channel) handed off before: a duplicate alert or a re-read batch
    unrouted: int = 0      # valid alerts no route matched (e.g. into green)
    malformed: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


class Router:
    def __init__(self, redis: Redis, keys: Keys, cfg: NotifierSettings,
                 routes: Sequence[RouteConfig]) -> None:
        self.redis, self.keys, self.cfg, self.routes = redis, keys, cfg, tuple(routes)
        self._handoff = redis.register_script(_HANDOFF)
        self.stats = RouterStats()
        self._registered: set[str] = set()  # channels this router has added to `keys.channels()`

    async def handle(self, values: Sequence[tuple[bytes | None, str]]) -> RouterStats:
        """Route and hand off one batch of (record value, source) pairs; returns the running stats."""
        now = time.time()
        new: set[str] = set()
        async with self.redis.pipeline(transaction=False) as pipe:
            calls: list[str] = []
            for raw, source in values:
                self.stats.read += 1
                try:
                    alert = Alert.parse(raw if raw is not None else b"null")
                except MalformedAlertError as exc:
                    self.stats.malformed += 1
                    metrics.MALFORMED.inc()
                    log.warning("skipping malformed alert at %s: %s (dead-lettered)", source, exc)
                    bad = dlq.malformed_fields(raw or b"", str(exc), source, now)
                    pipe.xadd(self.keys.dlq(), cast(Any, bad))
                    calls.append("")
                    continue
                targets = route_alert(alert, self.routes, self.cfg.default_cooldown_seconds)
                if not targets:
                    self.stats.unrouted += 1
                for t in targets:
                    e = Entry(channel=t.channel, alert=alert, route=t.route, cooldown=t.cooldown_seconds,
                              attempt=1, handoff_at=now)
                    args: list[str | int] = [self.cfg.dedup_ttl_seconds]
                    for k, v in e.fields().items():
                        args += [k, v]
                    await self._handoff(keys=[self.keys.handoff(t.channel, e.alert_id),
                                              self.keys.stream(t.channel)], args=args, client=pipe)
                    calls.append(t.channel)
                    if t.channel not in self._registered and t.channel not in new:
                        new.add(t.channel)  # once per channel and router process
                        pipe.sadd(self.keys.channels(), t.channel)
                        calls.append("")
            results = await pipe.execute()
        self._registered |= new
        for channel, res in zip(calls, results, strict=True):
            if not channel:
                continue
            if res:
                self.stats.handed_off += 1
                self.stats.by_channel[channel] = self.stats.by_channel.get(channel, 0) + 1
                metrics.ROUTED.labels(channel).inc()
            else:
                self.stats.already += 1
        return self.stats

    async def run(self, bootstrap: str, topic: str, group: str, stop: asyncio.Event,
                  max_records: int = 500) -> None:
        # read_committed: under the worker's exactly-once, records of aborted transactions are skipped
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000, isolation_level="read_committed",
                                    **kafka_auth())
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        log.info("router: reading %s in consumer group %s", topic, group)
        try:
            while not stop.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=int(self.cfg.poll_seconds * 1000),
                                                     max_records=max_records)
                    values = [(r.value, f"{r.topic}[{r.partition}]@{r.offset}")
                              for records in batches.values() for r in records]
                    if values:
                        await self.handle(values)
                        await consumer.commit()  # only after every delivery of the batch is on Redis
                except KafkaError as exc:
                    log.warning("router: Kafka error, retrying: %s", exc)
                    await asyncio.sleep(1.0)
                except (RedisError, OSError) as exc:  # nothing committed: read the batch again
                    log.warning("router: Redis error, re-reading from the committed offsets: %s", exc)
                    await asyncio.sleep(1.0)
                    if consumer.assignment():
                        await consumer.seek_to_committed(*consumer.assignment())
        finally:
            await consumer.stop()
