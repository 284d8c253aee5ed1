"""`streams.kafka.OffsetReader`, the one poll of end and committed offsets (group lag, the lag
monitor, the bench's topic sizes), against the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.dev.bench import topic_sizes
from streams.kafka import group_lag


async def _produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for p, n in per_partition.items():
            for i in range(n):
                await producer.send_and_wait(topic, f"r{i}".encode(), partition=p)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in offsets]
        consumer.assign(tps)
        await consumer.commit({tp: offsets[tp.partition] for tp in tps})
    finally:
        await consumer.stop()


def test_sizes_and_group_lag_from_the_broker(kafka_bootstrap: str, unique_topic: Callable[..., str],
                                             unique_name: Callable[[str], str]) -> None:
    topic = unique_topic("offsets", partitions=3)
    asyncio.run(_produce(kafka_bootstrap, topic, {0: 5, 1: 2}))  # partition 2 stays empty
    missing = unique_name("never-created")
    assert asyncio.run(topic_sizes(kafka_bootstrap, [topic, missing])) == {topic: 7, missing: 0}

    group = unique_name("group")
    asyncio.run(_commit(kafka_bootstrap, group, topic, {0: 3}))
    rows = asyncio.run(group_lag(kafka_bootstrap, group, [topic]))
    assert [(r.partition, r.committed, r.end, r.lag) for r in rows] == [
        (0, 3, 5, 2), (1, None, 2, 2), (2, None, 0, 0)]
    # no topics named: the topics the group has committed offsets for
    assert [r.partition for r in asyncio.run(group_lag(kafka_bootstrap, group, []))] == [0, 1, 2]
