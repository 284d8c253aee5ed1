"""`pulse alerts tail` on the real broker: each alert id once, and nothing of an aborted
transaction (the worker under exactly-once), as the notifier and the dashboard see them."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.cli.tail import SeenIds, tail
from streams.kafka import ensure_topics

pytestmark = pytest.mark.integration


def alert(i: int) -> bytes:  # tail does not check the contract (`pretty` shows a malformed one)
    return orjson.dumps({"alert_id": f"{i:032x}", "account": f"a{i}", "to": "red"})


async def write(bootstrap: str, topic: str) -> None:
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    txn = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"t-{uuid.uuid4().hex}")
    await plain.start()
    await txn.start()
    try:
        await plain.send_and_wait(topic, alert(1))
        await plain.send_and_wait(topic, alert(1))  # a redelivery: the same alert id again
        await txn.begin_transaction()
        await txn.send_and_wait(topic, alert(2))  # a batch cut by a crash: aborted
        await txn.abort_transaction()
        async with txn.transaction():
            await txn.send_and_wait(topic, alert(3))
    finally:
        await txn.stop()
        await plain.stop()


def test_tail_shows_each_alert_id_once_and_nothing_aborted(kafka_bootstrap: str) -> None:
    topic = f"tail-{uuid.uuid4().hex[:8]}.alerts"
    ensure_topics(kafka_bootstrap, [topic], 1)
    asyncio.run(write(kafka_bootstrap, topic))
    shown: list[bytes] = []
    n = asyncio.run(tail(kafka_bootstrap, topic, from_beginning=True, idle_exit=3.0, emit=shown.append))
    assert shown == [alert(1), alert(3)] and n == 2
    everything: list[bytes] = []
    asyncio.run(tail(kafka_bootstrap, topic, from_beginning=True, idle_exit=3.0, emit=everything.append,
                     dedupe=False, isolation_level="read_uncommitted"))
    assert everything == [alert(1), alert(1), alert(2), alert(3)]  # what a consumer without both sees


def test_seen_ids_forgets_the_oldest_beyond_its_size() -> None:
    ids = SeenIds(size=2)
    assert [ids.first_time(alert(i)) for i in (1, 2, 1, 3, 2, 1)] == [True, True, False, True, True, True]
    assert ids.repeats == 1
    assert ids.first_time(b"not json") and ids.first_time(b"not json")  # shown, never dropped
