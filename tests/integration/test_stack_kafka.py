"""The real broker and Redis answer, and keep data across crashes."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.dev import stack
from streams.kafka import kafka_cluster_id
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        batch = [producer.send(topic, key=str(i % 97).encode(), value=f"record-{i}".encode())
                 for i in range(n)]
        await asyncio.gather(*[await f for f in batch])
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, n: int, group: str | None = None,
                       commit: bool = False, timeout: float = 60.0) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                got.extend(r.value for r in records if r.value is not None)
        if commit:
            await consumer.commit()
    finally:
        await consumer.stop()
    return got


def test_ten_thousand_records_round_trip(kafka_bootstrap: str, unique_topic) -> None:
    topic = unique_topic("roundtrip", partitions=3)
    asyncio.run(_produce(kafka_bootstrap, topic, 10_000))
    got = asyncio.run(_consume_all(kafka_bootstrap, topic, 10_000))
    assert len(got) == 10_000
    assert set(got) == {f"record-{i}".encode() for i in range(10_000)}
    print(f"cluster id: {kafka_cluster_id(kafka_bootstrap)}")


def test_redis_round_trip(redis_url: str, redis_prefix: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.set(f"{redis_prefix}k", b"v", ex=60)
    assert r.get(f"{redis_prefix}k") == b"v"
    r.xadd(f"{redis_prefix}s", {"a": "1"})
    assert r.xlen(f"{redis_prefix}s") == 1


local_only = pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP") or os.environ.get("REDIS_URL")),
                                reason="restarts need the project's own local stack")


@local_only
def test_committed_offsets_and_records_survive_a_broker_kill(kafka_bootstrap: str, unique_topic) -> None:
    s = Settings()
    topic, group = unique_topic("durable"), f"group-{time.time_ns()}"
    asyncio.run(_produce(kafka_bootstrap, topic, 1000))
    assert len(asyncio.run(_consume_all(kafka_bootstrap, topic, 1000, group=group, commit=True))) == 1000
    time.sleep(1)  # let the broker write the log segment and the offsets topic
    stack.kill_kafka(s)
    assert kafka_cluster_id(kafka_bootstrap, timeout=2) is None  # it is really down
    stack.up(s)

    async def committed() -> int | None:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(topic, 0))
        finally:
            await consumer.stop()

    # right after a restart the group coordinator may still be loading __consumer_offsets
    deadline = time.monotonic() + 60
    got = asyncio.run(committed())
    while got is None and time.monotonic() < deadline:
        time.sleep(1)
        got = asyncio.run(committed())
    assert got == 1000
    again = asyncio.run(_consume_all(kafka_bootstrap, topic, 1000))
    assert len(again) == 1000


@local_only
def test_redis_data_survives_a_kill_through_the_aof(redis_url: str, redis_prefix: str) -> None:
    s = Settings()
    r = redis.Redis.from_url(redis_url)
    r.set(f"{redis_prefix}aof", b"kept")
    time.sleep(1.5)  # appendfsync everysec
    p = stack.paths_for(s)
    pid = stack.running_pid(p, "redis")
    assert pid is not None
    os.kill(pid, 9)
    while stack.redis_ping(redis_url):
        time.sleep(0.1)
    stack.up(s)
    assert redis.Redis.from_url(redis_url).get(f"{redis_prefix}aof") == b"kept"
