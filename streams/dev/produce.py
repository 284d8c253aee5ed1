"""`pulse produce`: send a JSONL (or .gz) file of Segment events to the `events` topic.

Each line is sent as is (raw bytes: an invalid line reaches the dead-letter topic through the
worker, with its offset), keyed by its userId, else anonymousId (a batch envelope: its first
element's), so that all of a user's events land in one partition, in file order.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.ingest.batching import sender_of
from streams.kafka import kafka_auth


def key_of(line: bytes) -> bytes | None:
    try:
        doc: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list) and doc["batch"]:
        doc = doc["batch"][0]
    sender = sender_of(doc)  # the same sender `pulse ingest` partitions by (an integer id as its digits)
    return sender.encode() if sender is not None else None


async def produce_records(records: Iterable[bytes], bootstrap: str, topic: str) -> int:
    """Send each record as is (raw bytes, no line splitting: a record may hold newlines or invalid
    UTF-8), keyed like `produce_file`'s lines; returns the number sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                acks="all", request_timeout_ms=60000, **kafka_auth())
    await producer.start()
    sent = 0
    pending: list[asyncio.Future[Any]] = []
    try:
        for record in records:
            try:
                key = key_of(record)
            except Exception:  # a hostile record: no sender to key by
                key = None
            pending.append(await producer.send(topic, record, key=key))
            sent += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def open_lines(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    raw = path.open("rb")
    return raw, (gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw)  # type: ignore[return-value]


async def produce_file(path: Path, bootstrap: str, topic: str,
                       on_progress: Callable[[int, int], None] | None = None,
                       rate: float | None = None) -> int:
    """Send every non-blank line; returns the number sent. `rate` limits to events/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                acks="all", request_timeout_ms=60000, **kafka_auth())
    await producer.start()
    sent = 0
    pending: list[asyncio.Future[Any]] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    raw, src = open_lines(path)
    try:
        with raw, src:
            for line in src:
                line = line.strip()
                if not line:
                    continue
                pending.append(await producer.send(topic, line, key=key_of(line)))
                sent += 1
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
                    if on_progress:
                        on_progress(raw.tell(), sent)
                if rate and sent % 100 == 0:
                    ahead = sent / rate - (loop.time() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            await asyncio.gather(*pending)
            if on_progress:
                on_progress(raw.tell(), sent)
    finally:
        await producer.stop()
    return sent
