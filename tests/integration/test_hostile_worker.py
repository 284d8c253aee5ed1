"""The hostile corpus through the real worker on the real broker: every case as one Kafka record,
a good event before each. The worker never exits, every bad event is a dead letter (original
bytes, reason, source offset), and every good event is scored.

Cases over 1 MB (the 10 MB line, 10 MB of spaces) are left out here: the broker refuses records
over its `message.max.bytes` (1 MB) at produce time, before any worker sees them; the unit and
replay tests run them."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter, defaultdict
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from scoring.model import load_model
from tests.hostile import load

MAX_RECORD = 900_000


def good(i: int) -> bytes:
    return orjson.dumps({"type": "track", "event": "Teammate Invited", "context": {"groupId": f"good-{i}"},
                         "messageId": f"good-{i}", "timestamp": "2026-11-01T00:00:00Z"})


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=1_000_000, linger_ms=5)
    await producer.start()
    try:
        for v in values:  # one partition: offsets are the list's indexes
            await producer.send_and_wait(topic, v)
    finally:
        await producer.stop()


def test_hostile_records_become_dead_letters_and_good_ones_are_scored(pipeline, tmp_path: Path) -> None:
    cases = [c for c in load() if c.pinned and len(c.raw) <= MAX_RECORD]
    assert len(cases) >= 200
    values: list[bytes] = []
    expected: dict[int, list[str]] = {}  # offset -> expected outcome tokens of the hostile record
    for i, c in enumerate(cases):
        values.append(good(i))
        expected[len(values)] = c.expect
        values.append(c.raw)
    p = pipeline()
    p.start()
    asyncio.run(produce(p.bootstrap, p.names.events, values))
    p.wait_caught_up(timeout=300)
    assert p.proc is not None and p.proc.poll() is None, p.log_tail()  # never crashed

    letters = p.dead_letters()
    by_offset: dict[int, list[dict[str, object]]] = defaultdict(list)
    for d in letters:
        by_offset[int(d["offset"])].append(d)  # type: ignore[call-overload]
    want_invalid = {o: [e for e in exp if e.startswith("invalid")] for o, exp in expected.items()}
    assert sum(len(v) for v in want_invalid.values()) == len(letters)
    for offset, tokens in want_invalid.items():
        got = by_offset.get(offset, [])
        assert len(got) == len(tokens), (offset, tokens, [g["reason"] for g in got])
        pinned = Counter(t.split(":", 1)[1] for t in tokens if ":" in t)
        assert not pinned - Counter(str(g["reason"]) for g in got), (offset, pinned)
        for g in got:
            assert base64.b64decode(str(g["raw_b64"])) == values[offset]  # the record's own bytes
            assert g["detail"] and g["topic"] == p.names.events

    scores = {r["account"]: r["score"] for r in p.export(load_model(None))}
    assert all(scores.get(f"good-{i}") == 10.0 for i in range(len(cases)))
