"""Backpressure of `pulse ingest`: refused at once (503 + Retry-After) instead of queued without bound."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import httpx
import orjson
import pytest

from streams.ingest.producer import KafkaWriter, Unavailable
from streams.kafka import ensure_topics
from tests.integration.ingest_harness import KEYS, IngestProc

pytestmark = pytest.mark.integration


async def _concurrent_sends(bootstrap: str, topic: str) -> list[object]:
    writer = KafkaWriter(bootstrap, send_timeout=30, max_pending_bytes=150_000)
    writer.start()
    for _ in range(300):
        if writer.connected:
            break
        await asyncio.sleep(0.1)
    assert writer.connected, writer.error
    try:
        record = [(topic, 0, None, b"x" * 100_000)]
        results = await asyncio.gather(*(writer.send(record) for _ in range(6)), return_exceptions=True)
        assert writer.pending_bytes == 0  # everything sent was acknowledged (or failed) by now
        again = await writer.send(record)  # nothing pending: taken again
        return [*results, again]
    finally:
        await writer.stop()


def test_unacknowledged_bytes_are_bounded(kafka_bootstrap: str, unique_name: object) -> None:
    """Six 100 KB requests at once with a 150 KB bound: the first is sent, the others are refused
    while its bytes wait for the broker's acknowledgement; once it is in, sends go through again."""
    topic = unique_name("ingest-bp")  # type: ignore[operator]
    ensure_topics(kafka_bootstrap, [topic], 1)
    results = asyncio.run(_concurrent_sends(kafka_bootstrap, topic))
    refused = [r for r in results if isinstance(r, Unavailable)]
    assert results[0] is None and results[-1] is None
    assert len(refused) == 5 and "wait for Kafka" in str(refused[0])


def test_too_many_requests_in_flight_is_503(kafka_bootstrap: str, tmp_path: Path) -> None:
    p = IngestProc(kafka_bootstrap, tmp_path, env_extra={"PULSE_INGEST_MAX_IN_FLIGHT": "0",
                                                         "PULSE_INGEST_RETRY_AFTER_SECONDS": "3"})
    ensure_topics(kafka_bootstrap, [p.events_topic, p.dlq_topic], 1)
    p.start()
    try:
        p.wait("/ready")
        r = httpx.post(p.base + "/v1/batch", content=orjson.dumps({"batch": []}), headers={
            "Authorization": "Basic " + base64.b64encode(f"{KEYS['web']}:".encode()).decode()})
        assert r.status_code == 503 and r.headers["Retry-After"] == "3"
        assert "in flight" in r.json()["message"]
    finally:
        p.stop()


def test_503_when_kafka_does_not_acknowledge_in_time(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A send timeout shorter than the producer's 2 ms linger: no acknowledgement can arrive in
    time, so every call is answered 503 + Retry-After (and /ready turns 503) instead of waiting."""
    p = IngestProc(kafka_bootstrap, tmp_path, env_extra={"PULSE_INGEST_SEND_TIMEOUT_SECONDS": "0.001"})
    ensure_topics(kafka_bootstrap, [p.events_topic, p.dlq_topic], 1)
    p.start()
    try:
        p.wait("/healthz")
        for _ in range(300):  # connected (the failure below must be a send's, not the connection's)
            if "pulse_ingest_kafka_ready 1.0" in httpx.get(p.base + "/metrics").text:
                break
            time.sleep(0.1)
        body = {"batch": [{"type": "track", "event": "Login", "userId": "u", "timestamp": "2026-10-01T09:00:00Z"}]}
        answers = [httpx.post(p.base + "/v1/batch", content=orjson.dumps(body), headers={
            "Authorization": "Basic " + base64.b64encode(f"{KEYS['web']}:".encode()).decode()}) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert all(a.headers["Retry-After"] == "5" for a in answers)
        assert "did not acknowledge within" in answers[-1].json()["message"]
        assert httpx.get(p.base + "/ready").status_code == 503
    finally:
        p.stop()
