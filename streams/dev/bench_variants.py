"""`pulse bench stream --guarantee ... --hostile-fraction F`: more pipeline runs in the same bench
run, each a fresh worker on fresh topics over the same generated events.

- one run per processing guarantee (`PULSE_WORKER_PROCESSING_GUARANTEE`): what exactly-once
  costs against at-least-once on the same data, broker and machine state;
- with a hostile fraction, one more run with the first guarantee over the same number of
  records, that fraction of them replaced by wholly invalid cases of the hostile corpus
  (streams/dev/corpus.py `mix`): what hostile input costs against clean input.

Records are counted with a `read_committed` consumer: under exactly-once the topics' end offsets
also count the transactions' commit markers.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.dev.corpus import load, mix, wholly_invalid
from streams.dev.produce import produce_records
from streams.dev.stack import stop_child
from streams.kafka import OffsetReader, kafka_auth
from streams.settings import Settings
from streams.topics import TopicNames, create_topics

GUARANTEES = ("at_least_once", "exactly_once")


@dataclass(frozen=True)
class Variant:
    guarantee: str = "at_least_once"
    hostile: float = 0.0  # fraction of the records replaced by hostile cases

    @property
    def label(self) -> str:
        return self.guarantee + (f"+hostile{self.hostile:g}" if self.hostile else "")


def variants(guarantees: tuple[str, ...], hostile_fraction: float) -> list[Variant]:
    """The bench's pipeline runs, the first one the main figure."""
    out = [Variant(g) for g in guarantees] or [Variant()]
    if hostile_fraction > 0:
        out.append(Variant(out[0].guarantee, hostile_fraction))
    return out


async def count_records(bootstrap: str, topic: str) -> int:
    """Records a `read_committed` consumer reads on `topic`, from the beginning to the end."""
    async with OffsetReader(bootstrap) as reader:
        ends = await reader.end_offsets([topic])
    todo = {tp: end for tp, end in ends.items() if end > 0}
    if not todo:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed", max_partition_fetch_bytes=16 * 1024 * 1024,
                                **kafka_auth())
    await consumer.start()
    n = 0
    try:
        consumer.assign(list(todo))
        await consumer.seek_to_beginning(*todo)
        while True:
            for records in (await consumer.getmany(timeout_ms=500, max_records=20000)).values():
                n += len(records)
            positions = [await consumer.position(tp) for tp in todo]
            if all(p >= end for p, end in zip(positions, todo.values(), strict=True)):
                return n
    finally:
        await consumer.stop()


def outputs(bootstrap: str, names: TopicNames) -> dict[str, int]:
    return {"alerts": asyncio.run(count_records(bootstrap, names.alerts)),
            "dead_letters": asyncio.run(count_records(bootstrap, names.dlq))}


StartWorker = Callable[[Settings, Path, int, Path, str], "subprocess.Popen[bytes]"]
Pipeline = Callable[[Settings], Coroutine[Any, Any, tuple[float, float]]]


def run_variant(v: Variant, bootstrap: str, lines: list[bytes], n_events: int, model_path: Path,
                partitions: int, work: Path, start_worker: StartWorker, pipeline: Pipeline) -> dict[str, Any]:
    """One more pipeline run: fresh topics, the records produced, a worker (`start_worker`, the
    bench's) until caught up (`pipeline`, the bench's timing)."""

    s = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                 data_dir=work / f"data-{v.label}")
    names = TopicNames.from_settings(s)
    mixed = mix(lines, v.hostile, wholly_invalid(load())) if v.hostile else None
    records = mixed.records if mixed is not None else lines
    create_topics(s, partitions)
    asyncio.run(produce_records(records, bootstrap, names.events))
    proc: subprocess.Popen[bytes] = start_worker(s, model_path, partitions, work / f"worker-{v.label}.log",
                                                 v.guarantee)
    try:
        startup_s, pipe_s = asyncio.run(pipeline(s))
    finally:
        stop_child(proc, 60)
    return {
        **figures(v, len(records), n_events if mixed is None else None, pipe_s, startup_s),
        "hostile_records": len(mixed.hostile) if mixed is not None else 0,
        "hostile_bytes": sum(len(c.raw) for c in mixed.hostile.values()) if mixed is not None else 0,
        **outputs(bootstrap, names),
    }


def figures(v: Variant, records: int, events: int | None, pipe_s: float, startup_s: float) -> dict[str, Any]:
    return {"variant": v.label, "guarantee": v.guarantee, "hostile_fraction": v.hostile, "records": records,
            "pipeline_records_per_s": round(records / pipe_s),
            "pipeline_events_per_s": round(events / pipe_s) if events else None,
            "pipeline_s": round(pipe_s, 2), "worker_startup_s": round(startup_s, 2)}


def ratios(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    by = {r["variant"]: r["pipeline_records_per_s"] for r in runs}
    hostile = [r for r in runs if r["hostile_fraction"]]
    clean = [r for r in runs if hostile and r["variant"] == hostile[0]["guarantee"]]
    return {
        "ratio_exactly_once_to_at_least_once": (round(by["exactly_once"] / by["at_least_once"], 3)
                                                if "exactly_once" in by and "at_least_once" in by else None),
        "ratio_hostile_to_clean": (round(hostile[0]["pipeline_records_per_s"]
                                         / clean[0]["pipeline_records_per_s"], 3)
                                   if hostile and clean else None),
    }
