"""`pulse scores export`: every account's score and band, read from the account-state changelog.

Reads the compacted changelog topic of the worker's account-state table up to its current end
(latest value per key), rebuilds each partition's `PartitionState` with the pure core, and
writes what replay's end-of-input advance would leave, as of each partition's clock, in
replay's `scores.jsonl` format; with `health_out` (a model with `[health]`), also each account's
health after that advance in replay's `health_scores.jsonl` format. No running worker is needed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from scoring.model import Model
from streams.kafka import wait_assigned
from streams.offline.replay import write_health_scores, write_scores
from streams.settings import Settings
from streams.topics import TopicNames
from streams.worker.partition_state import PartitionState


async def read_changelog(bootstrap: str, topic: str) -> dict[int, dict[bytes, bytes]]:
    """Latest value per key, per partition, up to the end offsets seen at start."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    latest: dict[int, dict[bytes, bytes]] = defaultdict(dict)
    try:
        try:
            await wait_assigned(consumer, topic)
        except LookupError:
            return {}
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=10000)
            for tp, records in batches.items():
                for r in records:
                    if r.key is None:
                        continue
                    if r.value is None:
                        latest[tp.partition].pop(r.key, None)
                    else:
                        latest[tp.partition][r.key] = r.value
                if records and records[-1].offset + 1 >= ends[tp]:
                    todo.discard(tp)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return latest


async def export_scores(s: Settings, model: Model, sweep_seconds: int, out: Path,
                        health_out: Path | None = None) -> int:
    latest = await read_changelog(s.bootstrap, TopicNames.from_settings(s).account_state_changelog)
    rows: list[tuple[str, float, str]] = []
    health: list[tuple[str, float | None, str | None, dict[str, float | None]]] = []
    for p, items in sorted(latest.items()):
        scorer = PartitionState.restore(p, model, sweep_seconds, items.items()).scorer
        scorer.finish()  # replay's end-of-input advance, on this copy of the state
        rows.extend(scorer.scores())
        health.extend(scorer.health_scores())
    rows.sort()
    write_scores(out, rows)
    if health_out is not None:
        write_health_scores(health_out, sorted(health, key=lambda r: r[0]))
    return len(rows)
