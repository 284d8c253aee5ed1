"""The Kafka side of `pulse ingest`: one producer, acks=all, and backpressure instead of buffering.

- The producer connects in the background (retrying), so `pulse ingest` starts and answers
  `/healthz` while Kafka is down; `/ready` is 200 once it is connected and no send failed in the
  last `FAILURE_HOLD` seconds (so an instance taken out of a load balancer by one failure comes
  back without needing traffic). Until connected, calls are answered 503 with `Retry-After`.
- `send` returns once the broker acknowledged every record (acks=all, idempotent producer) or
  raises `Unavailable` (503 + Retry-After): when the records do not get in within
  `send_timeout`, when Kafka answers an error, or when the bytes sent and not yet acknowledged
  (from every request, including ones that already timed out) would pass `max_pending_bytes`.
  That bound is what keeps memory flat when Kafka is slow: requests are refused, not queued.
- A call answered 503 may still reach Kafka later (it was sent, only not acknowledged in time);
  the client's retry then repeats it with the same `messageId`, which the worker's dedup drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.kafka import kafka_auth

log = logging.getLogger("pulse.ingest")
FAILURE_HOLD = 10.0  # seconds /ready stays 503 after a failed send


class Unavailable(Exception):
    """Kafka cannot take the records now; answer 503 with Retry-After."""


class KafkaWriter:
    def __init__(self, bootstrap: str, *, send_timeout: float = 10.0, max_pending_bytes: int = 64 << 20,
                 on_connect: Callable[[], Awaitable[None]] | None = None, linger_ms: int = 2) -> None:
        self.bootstrap = bootstrap
        self.send_timeout = send_timeout
        self.max_pending_bytes = max_pending_bytes
        self.pending_bytes = 0
        self._on_connect = on_connect
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self.failed_at: float | None = None  # monotonic time of the last failed send
        self.error: str | None = "not connected yet"

    @property
    def connected(self) -> bool:
        return self._producer is not None

    @property
    def ready(self) -> bool:
        if self._producer is None:
            return False
        return self.failed_at is None or time.monotonic() - self.failed_at > FAILURE_HOLD

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="pulse-ingest-kafka-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                linger_ms=self._linger_ms, max_batch_size=1 << 20, max_request_size=1 << 20,
                request_timeout_ms=max(int(self.send_timeout * 1000), 1000), client_id="pulse-ingest",
                **kafka_auth())
            try:
                await producer.start()
                if self._on_connect is not None:
                    await self._on_connect()
            except Exception as exc:  # a dead broker, a refused connection: try again
                self.error = f"cannot connect to Kafka at {self.bootstrap}: {exc}"
                log.warning("%s (retrying in %.1fs)", self.error, delay)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._producer, self.error = producer, None
            log.info("connected to Kafka at %s", self.bootstrap)
            return

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def partitions(self, topic: str) -> list[int]:
        producer = self._need()
        try:
            async with asyncio.timeout(self.send_timeout):
                return sorted(await producer.partitions_for(topic))
        except (TimeoutError, KafkaError) as exc:
            self._fail(f"no metadata for topic {topic}: {exc!r}")
            raise Unavailable(self.error) from None

    def _need(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise Unavailable(self.error or "Kafka is not connected")
        return self._producer

    def _fail(self, why: str) -> None:
        self.failed_at, self.error = time.monotonic(), why
        log.warning("%s", why)

    def _settled(self, size: int) -> Callable[[asyncio.Future[Any]], None]:
        def done(fut: asyncio.Future[Any]) -> None:
            self.pending_bytes -= size
            if not fut.cancelled():
                fut.exception()  # retrieved: a late failure of a request already answered 503
        return done

    async def send(self, records: Sequence[tuple[str, int | None, bytes | None, bytes]]) -> None:
        """Send (topic, partition, key, value) records; return once the broker has all of them."""
        producer = self._need()
        size = sum(len(v) for _, _, _, v in records)
        if self.pending_bytes + size > self.max_pending_bytes and self.pending_bytes:
            raise Unavailable(f"{self.pending_bytes:,} bytes already wait for Kafka's acknowledgement")
        # reserved before the first await, so concurrent requests see each other's bytes; each
        # record's share is released when the broker answers it, the unsent rest on an error
        self.pending_bytes += size
        unsent = size
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.send_timeout
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self.send_timeout):
                for topic, partition, key, value in records:
                    fut = await producer.send(topic, value, key=key, partition=partition)
                    unsent -= len(value)
                    fut.add_done_callback(self._settled(len(value)))
                    futures.append(fut)
        except TimeoutError:
            self._fail(f"Kafka did not take the records within {self.send_timeout}s")
            raise Unavailable(self.error) from None
        except KafkaError as exc:
            self._fail(f"Kafka refused the records: {exc!r}")
            raise Unavailable(self.error) from None
        finally:
            self.pending_bytes -= unsent
        if futures:
            _done, pending = await asyncio.wait(futures, timeout=max(deadline - loop.time(), 0.001))
            if pending:
                self._fail(f"Kafka did not acknowledge within {self.send_timeout}s")
                raise Unavailable(self.error)
            for fut in futures:
                failure = fut.exception()
                if failure is not None:
                    self._fail(f"Kafka refused the records: {failure!r}")
                    raise Unavailable(self.error)
        self.failed_at = None
