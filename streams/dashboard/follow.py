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

While following, changelog records are not derived as they arrive: they are filed in a `Backlog`
(streams/dashboard/backlog.py: the newest record per account, accounts in the order they first
changed; partition metas, the newest per partition) and a derive loop takes the oldest change once
it has waited `derive_seconds`, so an account the worker writes in several batches meanwhile is
derived once (deriving is the dashboard's main cost: it decodes the account's whole state). While
the worker is writing (the changelog's end offsets moved within `busy_seconds`), reading and
deriving together spend at most `derive_share` of one core (`CpuBudget`): records are read only
when no waiting account is due and the budget has CPU left, so Kafka holds the rest. When the
worker is quiet, or more than `max_behind` accounts wait, both run at full speed. How far behind
it is (accounts waiting, age of the oldest change, records not read yet) is in `behind()`, shown
on every page. Alerts are not delayed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streams.dashboard.alerts import AlertBook, check_alert
from streams.dashboard.backlog import Backlog, CpuBudget
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
    derive_seconds: float = 2.0  # a changed account waits this long before it is derived
    derive_share: float = 0.1  # of one core for deriving while the worker writes (1.0: no limit)
    max_behind: int = 100_000  # accounts waiting above which the share is not kept
    busy_seconds: float = 5.0  # the worker counts as writing this long after the changelog last moved
    slice_seconds: float = 0.02  # CPU per derive step before pages and fetches get a turn
    ready: bool = False
    phase: str = "starting"
    updated_at: float | None = None  # wall time of the last change applied
    stats: dict[str, int] = field(default_factory=lambda: {"records": 0, "published": 0, "bad": 0})
    poll_seconds: float = 0.5  # how often the changelog's end offsets are read
    backlog: Backlog = field(default_factory=Backlog)
    budget: CpuBudget = field(init=False)
    _moved: float = -math.inf  # monotonic time the changelog's end was last seen moving
    _unread: int = 0  # changelog records past the dashboard's position, at the last poll
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None

    def __post_init__(self) -> None:
        self.budget = CpuBudget(self.derive_share)

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
                self._derive(key, value)
        self.updated_at = time.time()

    def _derive(self, key: bytes, value: bytes | None) -> None:
        self.stats["records"] += 1
        if value is None:
            return  # a deleted account keeps its last snapshot
        try:
            d = self.deriver.derive(key, value)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self.stats["bad"] += 1
            log.warning("changelog record of %r not understood: %s", key[:80], exc)
            return
        if d is not None:
            self.rm.upsert(d)

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

    def file(self, batches: Records) -> None:
        """One fetch into the backlog (nothing derived here)."""
        now = time.monotonic()
        backlog = self.backlog
        for records in batches.values():
            for r in records:
                key = r.key
                if key is None:
                    continue
                if is_meta(key):
                    if r.value is not None and is_partition_meta(key):
                        backlog.add_meta(key, r.value)
                else:
                    backlog.add(key, r.value, now)

    def busy(self, now: float) -> bool:
        """Whether the worker is writing: the changelog's end moved within `busy_seconds`."""
        return now - self._moved < self.busy_seconds

    def limited(self, now: float) -> bool:
        """Whether the budget applies: the worker writes and the backlog is not too long."""
        return self.busy(now) and len(self.backlog) <= self.max_behind

    def behind(self) -> dict[str, float | int]:
        """How far the snapshots are behind the changelog: accounts waiting in the backlog (and
        the age of the oldest change), records not read from Kafka yet."""
        b = self.backlog
        now = time.monotonic()
        return {"accounts": len(b), "oldest_s": round(b.oldest_age(now), 1), "unread": self._unread,
                "received": b.received, "coalesced": b.coalesced, "worker_writing": self.busy(now)}

    def derive_step(self) -> int:
        """Derive the oldest waiting accounts for at most one slice of the budget; returns how
        many were derived (0: nothing ready, or the budget is spent for now)."""
        b = self.backlog
        for meta in b.take_metas():
            self._meta(meta)
        now = time.monotonic()
        if not b.ready(now, self.derive_seconds):
            return 0
        limited = self.limited(now)
        allowed = self.budget.available(now, limited)
        if allowed <= 0.0:
            return 0
        # (the slice is timed with the wall clock: a CPU-time clock read is a system call, far
        # dearer than a wall-clock read, and read after every derivation it stood out in py-spy
        # (docs/benchmarks.md); the CPU actually used, read once per slice, is what is spent)
        t0, w0 = time.thread_time(), time.perf_counter()
        until = w0 + min(allowed, self.slice_seconds)
        n = 0
        while b.ready(now, self.derive_seconds):
            self._derive(*b.take())
            n += 1
            if time.perf_counter() >= until:
                break
        self.budget.spend(time.thread_time() - t0, limited)
        self.updated_at = time.time()
        return n

    async def fetch_step(self, consumer: AIOKafkaConsumer) -> int:
        """Read the changelog into the backlog. While the budget applies, read only when no
        waiting account is due for deriving and the budget has CPU left, a small chunk at a time,
        and count its decoding against the budget: Kafka keeps the rest meanwhile. Returns the
        records read."""
        now = time.monotonic()
        limited = self.limited(now)
        if limited and (self.backlog.ready(now, self.derive_seconds)
                        or self.budget.available(now, True) <= 0.0):
            await asyncio.sleep(0.05)
            return 0
        t0 = time.thread_time()
        try:
            batches = await consumer.getmany(timeout_ms=0 if limited else 500,
                                             max_records=1000 if limited else 5000)
        except KafkaError as exc:
            log.warning("reading %s failed, retrying: %s", self.changelog, exc)
            await asyncio.sleep(1.0)
            return 0
        self.file(batches)
        self.budget.spend(time.thread_time() - t0, limited)
        if limited and not batches:
            await asyncio.sleep(0.05)
        return sum(len(rs) for rs in batches.values())

    async def _watch_end(self, consumer: AIOKafkaConsumer) -> None:
        """Every `poll_seconds`, the changelog's end offsets: whether the worker is writing (even
        while the dashboard reads nothing), and how many records are not read yet."""
        tps = sorted(consumer.assignment())
        ends: dict[TopicPartition, int] | None = None
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                new = await consumer.end_offsets(tps)
                unread = 0
                for tp, end in new.items():
                    unread += max(0, end - await consumer.position(tp))
            except KafkaError as exc:
                log.debug("changelog end offsets not read: %s", exc)
                continue
            if ends is not None and new != ends:
                self._moved = time.monotonic()
            ends, self._unread = new, unread

    async def _follow_changelog(self, consumer: AIOKafkaConsumer) -> None:
        async def derive_loop() -> None:
            while True:
                n = self.derive_step()
                # more ready and allowed: let pages and fetches in, then go on; else wait a tick
                await asyncio.sleep(0 if n else 0.05)

        tasks = [asyncio.create_task(derive_loop())]
        try:
            if not consumer.assignment() and not await _assigned(consumer, self.changelog, 3600.0):
                return
            tasks.append(asyncio.create_task(self._watch_end(consumer)))
            while True:
                await self.fetch_step(consumer)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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
        """Every `flush_seconds`; while the worker writes, deferred (the dirty accounts wait; it
        is a write per account to the broker the worker uses) for at most 6 periods."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.flush_seconds)
            now = time.monotonic()
            if self.busy(now) and now - last < 6 * self.flush_seconds:
                continue
            last = now
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
