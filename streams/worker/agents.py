"""The two agents of the topology, each a few named steps over a batch of records.

resolve (events, keyed by user)     parse -> route (group calls update the user table) ->
                                    forward scored events keyed by account | dead-letter the rest
score   (scored, keyed by account)  fold into the partition's state -> emit band changes ->
                                    persist the changed accounts

At-least-once with idempotent effects: Faust acknowledges a batch's source records only when
the agent body returns, and commits offsets only after flushing the producer. Within a batch
the outputs (forwarded events, dead letters, alerts) are awaited until the broker has them
*before* the state is written, so a crash can repeat work but never lose it; repeated work
is absorbed by `PartitionState` (offsets) and deterministic alert ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event, current_event

from scoring.engine import Change, Resolver
from scoring.events import Event, Rejected, parse_message
from streams.topics import TopicNames
from streams.worker import metrics
from streams.worker.app import WorkerConfig
from streams.worker.changelog import TableWriter
from streams.worker.partition_state import PartitionState, traits_item
from streams.worker.records import alert_from_change, dead_letter

log = logging.getLogger("pulse.worker")


def _focus(event: Any) -> None:
    """Point Faust's "current event" at `event`: table writes go to its partition."""
    _current_event.set(weakref.ref(event))


class TableMapping(MutableMapping[str, str]):
    """The user -> account Faust table seen as a str mapping, with a read cache.

    Writes are held in `pending` (with the event whose partition they belong to) until the
    agent calls `flush()` at the end of its batch: one bulk changelog write per batch.
    """

    def __init__(self, table: Any, writer: TableWriter, cache_size: int = 1_000_000) -> None:
        self.table, self.writer, self.cache_size = table, writer, cache_size
        self.cache: dict[str, str] = {}
        self.pending: dict[str, tuple[Any, str]] = {}

    def __getitem__(self, user: str) -> str:
        hit = self.cache.get(user)
        if hit is not None:
            return hit
        held = self.pending.get(user)
        if held is not None:
            return held[1]
        raw = self.table.get(user.encode())
        if raw is None:
            raise KeyError(user)
        return self._remember(user, bytes(raw).decode())

    def _remember(self, user: str, account: str) -> str:
        if len(self.cache) >= self.cache_size:
            self.cache.clear()
        self.cache[user] = account
        return account

    def __setitem__(self, user: str, account: str) -> None:
        held = self.pending.get(user)
        if (held[1] if held is not None else self.cache.get(user)) == account:
            return  # the same mapping again (a repeated group call): nothing to write
        self._remember(user, account)
        self.pending[user] = (current_event(), account)

    async def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for user, (event, account) in pending.items():
            await self.writer.put(event, user.encode(), account.encode())
        await self.writer.flush()

    def __delitem__(self, user: str) -> None:
        self.cache.pop(user, None)
        del self.table[user.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in self.table)

    def __len__(self) -> int:
        return len(self.table)


def register_agents(app: faust.App, cfg: WorkerConfig, names: TopicNames, topics: dict[str, Any],
                    users: Any, states: Any) -> None:
    model, sweep = cfg.model, cfg.sweep_seconds
    skew_us = int(cfg.settings.max_future_skew_seconds * 1_000_000)
    partitions: dict[int, PartitionState] = {}
    last_events: dict[int, Any] = {}
    app.pulse_partitions = partitions  # type: ignore[attr-defined]  # for the web views

    async def send_all(records: list[tuple[str, bytes | None, bytes]],
                       to_partitions: list[tuple[str, int, bytes]] | None = None) -> None:
        """Send, then wait until the broker has every record (before state is written)."""
        producer = app.producer
        futures = [await producer.send(topic, key, value, None, None, None)
                   for topic, key, value in records]
        for topic, partition, value in to_partitions or ():
            futures.append(await producer.send(topic, None, value, partition, None, None))
        if futures:
            await asyncio.gather(*futures)

    # -- resolve ---------------------------------------------------------------
    partition_cache: dict[str, int] = {}

    def partition_of(account: str) -> int:
        """The `scored` partition of an account: Kafka's default (murmur2) partitioner."""
        p = partition_cache.get(account)
        if p is None:
            if len(partition_cache) > 2_000_000:
                partition_cache.clear()
            p = partition_cache[account] = (murmur2(account.encode()) & 0x7FFFFFFF) % cfg.partitions
        return p

    @app.agent(topics["events"], concurrency=1, name="resolve")
    async def resolve(stream: Any) -> None:
        user_map = TableMapping(users, TableWriter(app, users))
        resolver = Resolver(user_map, account_traits={})
        async for batch in stream.take_events(cfg.batch_size, cfg.batch_within):
            started, invalid = time.perf_counter(), dict[str, int]()  # metrics, once per batch
            dead: list[tuple[str, bytes | None, bytes]] = []
            scored: dict[int, list[dict[str, Any]]] = {}
            now_us = time.time_ns() // 1000
            now_iso = datetime.now(UTC).isoformat()
            for event in batch:
                _focus(event)
                msg = event.message
                for item in parse_message(msg.value or b"", now_us=now_us, max_future_skew_us=skew_us):
                    routed = item if isinstance(item, Rejected) else resolver.route(item)
                    if isinstance(routed, Rejected):
                        invalid[routed.reason] = invalid.get(routed.reason, 0) + 1
                        dead.append((names.dlq, msg.key, dead_letter(
                            reason=routed.reason, detail=routed.detail, raw=msg.value or b"",
                            topic=msg.topic, partition=msg.partition, offset=msg.offset,
                            key=msg.key, now_iso=now_iso)))
                    elif routed is not None:
                        scored.setdefault(partition_of(routed.account), []).append(routed.to_dict())
                    elif isinstance(item, Event) and item.type == "group" and item.traits:
                        assert item.group_id is not None
                        scored.setdefault(partition_of(item.group_id), []).append(
                            traits_item(item.group_id, item.traits))
                resolver.account_traits.clear()
            await send_all(dead, [(names.scored, p, orjson.dumps(items)) for p, items in scored.items()])
            await user_map.flush()
            metrics.resolve_batch(len(batch), invalid, started)

    # -- score -----------------------------------------------------------------
    def state_of(event: Any) -> PartitionState:
        p = event.message.partition
        st = partitions.get(p)
        if st is None:
            _focus(event)
            st = partitions[p] = PartitionState.restore(p, model, sweep, states.items())
            metrics.track(st)
            log.info("partition %d: restored %d accounts (stream clock %s)", p,
                     len(st.scorer.accounts), st.scorer.clock)
        return st

    def alerts_for(st: PartitionState, changes: list[Change]) -> list[tuple[str, bytes | None, bytes]]:
        return [(names.alerts, c.account.encode(),
                 alert_from_change(c, traits=st.traits.get(c.account)).to_json())
                for c in changes if c.from_band is not None]

    state_writer = TableWriter(app, states)

    async def persist(touched: dict[int, Any]) -> None:
        for p, event in touched.items():
            for key, value in partitions[p].take_writes():
                await state_writer.put(event, key, value)
        await state_writer.flush()

    @app.agent(topics["scored"], concurrency=1, name="score")
    async def score(stream: Any) -> None:
        async for batch in stream.take_events(cfg.batch_size, cfg.batch_within):
            started = time.perf_counter()
            out: list[tuple[str, bytes | None, bytes]] = []
            touched: dict[int, Any] = {}
            for event in batch:
                st = state_of(event)
                msg = event.message
                out.extend(alerts_for(st, st.apply(msg.offset, msg.value or b"")))
                touched[msg.partition] = event
            await send_all(out)
            last_events.update(touched)
            await persist(touched)
            metrics.score_batch([partitions[p] for p in touched], batch[0] if batch else None, out, started)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            if tp.topic == names.scored:
                partitions.pop(tp.partition, None)
                last_events.pop(tp.partition, None)

    if cfg.live:
        @app.timer(interval=cfg.live_interval)  # type: ignore[untyped-decorator]
        async def live_sweep() -> None:
            now_us = time.time_ns() // 1000
            for p, event in list(last_events.items()):
                st = partitions.get(p)
                if st is None:
                    continue
                changes: list[Change] = []
                st.scorer.sweep_to(now_us, changes)
                if changes:
                    sent = alerts_for(st, changes)
                    await send_all(sent)
                    metrics.count_alerts(sent)
                    await persist({p: event})
