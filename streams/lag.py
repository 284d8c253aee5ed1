"""Consumer lag from the broker's committed and end offsets (not Faust's sensor, faust #214)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        meta = await admin.describe_topics(topics)
        tps = [TopicPartition(t["topic"], p["partition"]) for t in meta for p in t.get("partitions", [])]
        ends = await consumer.end_offsets(tps) if tps else {}
        return [PartitionLag(group, tp.topic, tp.partition,
                             committed[tp].offset if tp in committed else None, ends[tp])
                for tp in sorted(tps)]
    finally:
        await consumer.stop()
        await admin.close()


async def try_group_lag(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag] | None:
    """`group_lag`, or None on a retriable broker answer (e.g. a fresh broker's group coordinator
    is not available until `__consumer_offsets` exists)."""
    try:
        return await group_lag(bootstrap, group, topics)
    except KafkaError as exc:
        if not exc.retriable:
            raise
        return None


async def wait_caught_up(bootstrap: str, group: str, topics: list[str], timeout: float = 120.0,
                         settle: float = 0.0) -> list[PartitionLag]:
    """Wait until the group has committed every partition of `topics` up to its end offset."""
    deadline = time.monotonic() + timeout
    while True:
        lags = await try_group_lag(bootstrap, group, topics) or []
        if lags and all(x.lag == 0 for x in lags if x.end > 0):
            await asyncio.sleep(settle)
            again = await try_group_lag(bootstrap, group, topics)
            if again is not None and all(x.lag == 0 for x in again if x.end > 0):
                return again
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} still behind: {[(x.topic, x.partition, x.lag) for x in lags]}")
        await asyncio.sleep(0.5)
