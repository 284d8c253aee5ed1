"""The two Faust agents: thin shells that move records between Kafka and the plain steps.

resolve (events, keyed by user)     `ResolveStep.batch` -> send dead letters and scored items ->
                                    persist the batch's user -> account writes
score   (scored, keyed by account)  `ScoreStep.apply` -> send the alerts -> persist the changed
                                    accounts of the touched partitions

At-least-once with idempotent effects: Faust acknowledges a batch's source records only when
the agent body returns, and commits offsets only after flushing the producer. Within a batch
the outputs (forwarded events, dead letters, alerts) are awaited until the broker has them
*before* the state is written, so a crash can repeat work but never lose it; repeated work
is absorbed by `PartitionState` (offsets) and deterministic alert ids.

The only Faust plumbing here: a table read or write goes to the RocksDB database of the
partition of Faust's "current event", so each batch keeps one event per source partition
(`anchors`) to point the tables at (`_focus`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import faust
import orjson
from faust.streams import _current_event

from streams.worker import metrics
from streams.worker.app import Topology, WorkerConfig
from streams.worker.changelog import TableWriter
from streams.worker.eos import Transactions
from streams.worker.gctune import GcPolicy
from streams.worker.resolve import AccountPartitioner, ResolveStep, UserMap
from streams.worker.score import AlertRecord, ScoreStep
from streams.worker.transport import commit_in_agents, records_of

log = logging.getLogger("pulse.worker")

Out = tuple[str, bytes | None, bytes]  # (topic, key, value)


def _focus(event: Any) -> None:
    """Point Faust's "current event" at `event`: table reads and writes go to its partition."""
    _current_event.set(weakref.ref(event))


def by_partition(batch: Sequence[Any]) -> list[list[Any]]:
    """A batch's events split by source partition, each part in order (one transaction each)."""
    parts: dict[int, list[Any]] = {}
    for event in batch:
        parts.setdefault(event.message.partition, []).append(event)
    return list(parts.values())


def _anchors(batch: Sequence[Any]) -> tuple[list[Any], dict[int, Any]]:
    """The batch's records (a coalesced message stands for its fetch's records, see
    streams/worker/transport.py), and its last event per source partition (in order)."""
    messages: list[Any] = []
    anchors = {}
    for event in batch:
        msg = event.message
        messages.extend(records_of(msg))
        anchors[msg.partition] = event
    return messages, anchors


class PartitionAnchor:
    """Stands for an event of `partition` where a table write needs one and no record of the
    partition has arrived yet (an eagerly restored partition, swept by `--live`)."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


async def send_all(app: faust.App, records: Sequence[Out],
                   to_partitions: Sequence[tuple[str, int, bytes]] = ()) -> None:
    """Send, then wait until the broker has every record (before state is written)."""
    producer = app.producer
    futures = [await producer.send(topic, key, value, None, None, None) for topic, key, value in records]
    for topic, partition, value in to_partitions:
        futures.append(await producer.send(topic, None, value, partition, None, None))
    if futures:
        await asyncio.gather(*futures)


def register_agents(app: faust.App, cfg: WorkerConfig, topology: Topology, score_step: ScoreStep,
                    gc_policy: GcPolicy | None = None) -> None:
    """Register `resolve`, `score` (and with `cfg.live` the wall-clock sweep) onto `app`; tell
    `gc_policy` when partitions are about to be revoked and when the assigned ones are restored."""
    names = cfg.names
    skew_us = int(cfg.settings.max_future_skew_seconds * 1_000_000)
    users, states = topology.users, topology.states
    chunk = cfg.scored_chunk
    eos = Transactions(app) if cfg.settings.worker_processing_guarantee == "exactly_once" else None
    if eos is not None:
        commit_in_agents(app)
    # the latest event of each held `scored` partition: where its state rows are written
    score_anchors: dict[int, Any] = {}

    @app.agent(topology.events, concurrency=1, name="resolve")
    async def resolve(stream: Any) -> None:
        anchors: dict[int, Any] = {}

        def lookup(partition: int, user: str) -> str | None:
            _focus(anchors[partition])
            raw = users.get(user.encode())
            return None if raw is None else bytes(raw).decode()

        step = ResolveStep(UserMap(lookup), AccountPartitioner(cfg.partitions), skew_us)
        writer = TableWriter(app, users)

        def outputs(out: Any) -> tuple[list[Out], list[tuple[str, int, bytes]]]:
            return ([(names.dlq, key, value) for key, value in out.dead_letters],
                    [(names.scored, p, orjson.dumps(items[i:i + chunk]))
                     for p, items in out.scored.items() for i in range(0, len(items), chunk)])

        async for batch in stream.take_events(cfg.events_batch, cfg.batch_within):
            started = time.perf_counter()  # metrics, once per batch
            now_us = time.time_ns() // 1000
            if eos is not None:  # one transaction per source partition of the batch
                n, invalid = 0, Counter[str]()
                for part in by_partition(batch):
                    messages, anchors = _anchors(part)
                    last = part[-1].message
                    messages = eos.fresh(names.events, last.partition, messages)
                    if not messages:
                        continue  # committed already (eos.Transactions.fresh)
                    out = step.batch(messages, now_us)
                    dead, scored = outputs(out)
                    for p, user, account in step.users.take_writes():
                        await writer.put(anchors[p], user.encode(), account.encode())
                    await eos.commit(names.events, last.partition, last.offset + 1,
                                     [(t, k, v, None) for t, k, v in dead]
                                     + [(t, None, v, p) for t, p, v in scored],
                                     [writer])
                    n += len(messages)
                    invalid.update(out.invalid)
                metrics.resolve_batch(n, dict(invalid), started)
                continue
            messages, anchors = _anchors(batch)
            out = step.batch(messages, now_us)
            await send_all(app, *outputs(out))
            for p, user, account in step.users.take_writes():
                await writer.put(anchors[p], user.encode(), account.encode())
            await writer.flush()
            metrics.resolve_batch(len(messages), out.invalid, started)

    state_writer = TableWriter(app, states)

    async def persist(anchors: dict[int, Any]) -> None:
        for p, key, value in score_step.take_writes(anchors):
            await state_writer.put(anchors[p], key, value)
        await state_writer.flush()

    def alert_records(alerts: list[AlertRecord]) -> list[Out]:
        return [(names.alerts, key, value) for key, value in alerts]

    @app.agent(topology.scored, concurrency=1, name="score")
    async def score(stream: Any) -> None:
        async for batch in stream.take_events(cfg.batch_size, cfg.batch_within):
            started = time.perf_counter()
            parts = by_partition(batch) if eos is not None else [batch]
            sent: list[Out] = []
            for part in parts:
                messages, anchors = _anchors(part)
                last = part[-1].message
                if eos is not None:
                    messages = eos.fresh(names.scored, last.partition, messages)
                    if not messages:
                        continue  # committed already (eos.Transactions.fresh)
                out = alert_records(score_step.apply(messages))
                score_anchors.update(anchors)
                if eos is not None:  # the alerts, the state rows and the offset: one transaction
                    for p, key, value in score_step.take_writes(anchors):
                        await state_writer.put(anchors[p], key, value)
                    await eos.commit(names.scored, last.partition, last.offset + 1,
                                     [(t, k, v, None) for t, k, v in out], [state_writer])
                else:
                    await send_all(app, out)
                    await persist(anchors)
                sent += out
            _, anchors = _anchors(batch)
            metrics.score_batch(score_step.held(anchors), batch[0] if batch else None, sent, started)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        if gc_policy is not None and revoked:
            gc_policy.before_revoke()  # (done at the rebalance's start already: gctune.RebalanceSensor)
        for tp in revoked:
            if tp.topic == names.scored:
                score_step.revoke(tp.partition)
                score_anchors.pop(tp.partition, None)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def restore_assigned(app: faust.App, **kwargs: Any) -> None:
        """Once table recovery is done, restore every assigned `scored` partition's state now,
        not when its next record arrives (the metrics and the live sweep see it at once)."""
        try:
            for tp in app.consumer.assignment():
                if tp.topic == names.scored:
                    score_step.state(tp.partition)
                    score_anchors.setdefault(tp.partition, PartitionAnchor(names.scored, tp.partition))
        except Exception:  # the lazy restore at the partition's next record still happens
            log.exception("eager restore after the rebalance failed")
        if gc_policy is not None:
            gc_policy.after_restore()  # the restored state: out of every later full collection

    if cfg.live:
        @app.timer(interval=cfg.live_interval)  # type: ignore[untyped-decorator]
        async def live_sweep() -> None:
            now_us = time.time_ns() // 1000
            for p, event in list(score_anchors.items()):
                sent = alert_records(score_step.sweep(p, now_us))
                if sent and eos is not None:
                    for _, key, value in score_step.take_writes({p: event}):
                        await state_writer.put(event, key, value)
                    await eos.commit(names.scored, p, None, [(t, k, v, None) for t, k, v in sent],
                                     [state_writer])
                    metrics.count_alerts(sent)
                elif sent:
                    await send_all(app, sent)
                    metrics.count_alerts(sent)
                    await persist({p: event})
