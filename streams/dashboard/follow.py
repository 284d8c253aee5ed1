"""Kafka in and out: the changelog and alerts read, the history topic written and reloaded.

Start-up, in order (the dashboard serves pages meanwhile and says it is loading):

1. the history topic (the daily points and contributions earlier runs published), so that each
   account's snapshot below can be compared with its point 7 days earlier;
2. the changelog up to its current end, keeping only the partitions' meta records (their final
   stream clocks);
3. the changelog again from the beginning to the same end: each account record becomes a
   snapshot advanced to its partition's final clock, exactly as `pulse scores export` reads it;
4. then it follows: changelog records as the worker writes them (per batch of records the meta
   first, then the latest value of each account), alerts from the beginning of the topic and on,
   and every `flush_seconds` the changed accounts' history series are published.

While following, changelog records are coalesced: the latest record of each account (and of each
partition's meta) is kept and derived every `derive_seconds`, so an account the worker writes in
several batches meanwhile is derived once (deriving is the dashboard's main cost: it decodes the
account's whole state). Alerts are not delayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streams.dashboard.alerts import AlertBook, check_alert
from streams.dashboard.derive import Deriver, is_meta, is_partition_meta
from streams.dashboard.model import ReadModel
from streams.kafka import kafka_auth, wait_assigned

log = logging.getLogger("pulse.dashboard")
Records = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    # read_committed: under the worker's exactly-once, records of aborted transactions are skipped
    return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                            auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                            isolation_level="read_committed", **kafka_auth())


async def _assigned(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> bool:
    try:
        await wait_assigned(consumer, topic, timeout=timeout)
    except LookupError:
        return False
    return True


async def read_to_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int],
                      on_batch: Callable[[Records], Awaitable[None] | None]) -> None:
    """Feed `on_batch` until every partition's position reaches `ends`."""
    todo = {tp for tp, end in ends.items() if end > 0 and await consumer.position(tp) < end}
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
        batches = {tp: [r for r in rs if r.offset < ends[tp]] for tp, rs in batches.items()}
        res = on_batch(batches)
        if res is not None:
            await res
        for tp in list(todo):
            if await consumer.position(tp) >= ends[tp]:
                todo.discard(tp)


@dataclass
class Follower:
    bootstrap: str
    changelog: str
    alerts_topic: str
    history_topic: str
    rm: ReadModel
    deriver: Deriver
    book: AlertBook
    flush_seconds: float = 10.0
    derive_seconds: float = 2.0
    ready: bool = False
    phase: str = "starting"
    updated_at: float | None = None  # wall time of the last change applied
    stats: dict[str, int] = field(default_factory=lambda: {"records": 0, "published": 0, "bad": 0})
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None

    # -- changelog ------------------------------------------------------------
    def apply(self, batches: Records, *, metas: bool = True) -> None:
        """One fetch: per partition the meta first, then the latest record of each account."""
        for _tp, records in batches.items():
            latest: dict[bytes, bytes | None] = {}
            for r in records:
                if r.key is None:
                    continue
                if is_meta(r.key):
                    if metas and r.value is not None and is_partition_meta(r.key):
                        self._meta(r.value)
                    continue
                latest[r.key] = r.value
            for key, value in latest.items():
                self.stats["records"] += 1
                if value is None:
                    continue  # a deleted account keeps its last snapshot
                try:
                    d = self.deriver.derive(key, value)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    self.stats["bad"] += 1
                    log.warning("changelog record of %r not understood: %s", key[:80], exc)
                    continue
                if d is not None:
                    self.rm.upsert(d)
        self.updated_at = time.time()

    def _meta(self, value: bytes) -> None:
        try:
            self.deriver.meta(value)
        except (ValueError, KeyError, TypeError) as exc:
            self.stats["bad"] += 1
            log.warning("changelog meta record not understood: %s", exc)

    async def _keep_fetching(self, consumer: AIOKafkaConsumer, max_records: int,
                             handle: Callable[[Records], None]) -> None:
        """Fetch and handle until cancelled; a broker error is logged and retried, so the pages
        keep serving (with a stale "last updated") while Kafka is away."""
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            except KafkaError as exc:
                log.warning("reading %s failed, retrying: %s", sorted(consumer.subscription()), exc)
                await asyncio.sleep(1.0)
                continue
            if batches:
                handle(batches)

    async def load(self) -> AIOKafkaConsumer:
        """Steps 1-3; returns the changelog consumer positioned at the end it loaded to."""
        self.phase = "reading history"
        await self._load_history()
        consumer = _consumer(self.bootstrap, self.changelog)
        await consumer.start()
        if not await _assigned(consumer, self.changelog, 30.0):
            log.warning("changelog topic %s not found yet; start the worker first", self.changelog)
            return consumer
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        self.phase = "reading partition clocks"

        def metas(batches: Records) -> None:
            for records in batches.values():
                for r in records:
                    if r.key is not None and r.value is not None and is_partition_meta(r.key):
                        self._meta(r.value)

        await read_to_end(consumer, ends, metas)
        await consumer.seek_to_beginning(*tps)
        self.phase = "reading account states"
        await read_to_end(consumer, ends, lambda b: self.apply(b, metas=False))
        return consumer

    async def _load_history(self) -> None:
        consumer = _consumer(self.bootstrap, self.history_topic)
        await consumer.start()
        try:
            if not await _assigned(consumer, self.history_topic, 10.0):
                return
            tps = sorted(consumer.assignment())

            def merge(batches: Records) -> None:
                for records in batches.values():
                    for r in records:
                        if r.key is None or r.value is None:
                            continue
                        try:
                            i = self.rm.row(r.key.decode("utf-8", "replace"))
                            _, tail = self.rm.history.load(i, r.value)
                            self.rm.contrib.load_tail(i, tail)
                        except ValueError as exc:  # (orjson's decode error is a ValueError too)
                            log.warning("history record skipped: %s", exc)

            await read_to_end(consumer, await consumer.end_offsets(tps), merge)
            self.rm.history_epoch += 1
        finally:
            await consumer.stop()

    async def _follow_changelog(self, consumer: AIOKafkaConsumer) -> None:
        pending: dict[TopicPartition, dict[bytes, ConsumerRecord[bytes, bytes]]] = {}

        def keep(batches: Records) -> None:
            for tp, records in batches.items():
                latest = pending.setdefault(tp, {})
                for r in records:
                    if r.key is not None:
                        latest.pop(r.key, None)  # (re-inserted: the dict keeps arrival order)
                        latest[r.key] = r

        async def derive_loop() -> None:
            while True:
                await asyncio.sleep(self.derive_seconds)
                if pending:
                    batches = {tp: list(rs.values()) for tp, rs in pending.items()}
                    pending.clear()
                    self.apply(batches)

        deriver = asyncio.create_task(derive_loop())
        try:
            if not consumer.assignment() and not await _assigned(consumer, self.changelog, 3600.0):
                return
            await self._keep_fetching(consumer, 5000, keep if self.derive_seconds > 0 else self.apply)
        finally:
            deriver.cancel()
            await asyncio.gather(deriver, return_exceptions=True)
            await consumer.stop()

    # -- alerts -------------------------------------------------------------
    def add_alert(self, raw: bytes | None) -> None:
        alert = check_alert(raw)
        if alert is None:
            self.stats["bad"] += 1
            return
        if self.book.add(alert):
            self.updated_at = time.time()

    async def _follow_alerts(self) -> None:
        consumer = _consumer(self.bootstrap, self.alerts_topic)
        await consumer.start()
        try:
            if not await _assigned(consumer, self.alerts_topic, 3600.0):
                return
            def handle(batches: Records) -> None:
                for records in batches.values():
                    for r in records:
                        self.add_alert(r.value)

            await self._keep_fetching(consumer, 2000, handle)
        finally:
            await consumer.stop()

    # -- history out ----------------------------------------------------------
    async def publish_history(self) -> int:
        """Publish the series of every account whose history changed; returns how many."""
        rm = self.rm
        dirty, rm.dirty = rm.dirty, set()
        if not dirty or self._producer is None:
            return 0
        futs = []
        for i in dirty:
            value = rm.history.encode(i, rm.contrib.tail(i))
            if value is not None:
                futs.append(await self._producer.send(self.history_topic, value, key=rm.ids[i].encode()))
        for f in futs:
            await f
        self.stats["published"] += len(futs)
        return len(futs)

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.publish_history()
            except Exception as exc:  # the broker away for a while: keep serving, retry later
                log.warning("publishing history failed: %s", exc)

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=20,
                                          max_batch_size=1 << 20, **kafka_auth())
        await self._producer.start()
        self._tasks.append(asyncio.create_task(self._follow_alerts()))
        consumer = await self.load()
        self.ready, self.phase = True, "following"
        log.info("dashboard loaded %d accounts", self.rm.scored)
        await self.publish_history()
        self._tasks.append(asyncio.create_task(self._follow_changelog(consumer)))
        self._tasks.append(asyncio.create_task(self._publish_loop()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._producer is not None:
            try:
                await self.publish_history()
            finally:
                await self._producer.stop()
