"""Raw HTTP against a real `pulse ingest` process on a free port, writing to the real Kafka."""

from __future__ import annotations

import asyncio
import base64
import gzip
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.dev.stack import free_port
from streams.kafka import ensure_topics
from tests.integration.ingest_harness import KEYS, IngestProc, read_topic

pytestmark = pytest.mark.integration
TS = "2026-10-01T09:00:00Z"
SENT = "2026-10-01T09:00:05Z"
WEB = KEYS["web"]


@pytest.fixture(scope="module")
def ingest(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProc]:
    """One ingest on 4-partition `events` / `events-dlq` topics; tests tell their calls apart by a tag."""
    p = IngestProc(kafka_bootstrap, tmp_path_factory.mktemp("ingest"))
    ensure_topics(kafka_bootstrap, [p.events_topic, p.dlq_topic], 4)
    p.start()
    p.wait("/ready")
    yield p
    p.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(ingest: IngestProc, path: str, body: Any, *, key: str | None = WEB, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    hdrs = {"Content-Type": "application/json", **(auth(key) if key else {}), **(headers or {})}
    data = raw if raw is not None else orjson.dumps(body)
    return httpx.post(ingest.base + path, content=data, headers=hdrs, timeout=30)


def tagged(records: list[Any], tag: str) -> list[tuple[Any, list[dict[str, Any]]]]:
    """(record, its calls) for each `events` record whose calls carry properties.tag == tag."""
    out = []
    for r in records:
        batch = orjson.loads(r.value)["batch"]
        if any((c.get("properties") or {}).get("tag") == tag for c in batch):
            out.append((r, batch))
    return out


def call(typ: str, tag: str, user: str = "u-1", **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"userId": user, "timestamp": TS, "properties": {"tag": tag}, **extra}
    if typ:
        c["type"] = typ
    return c


SINGLE = {
    "track": {"event": "Login"},
    "identify": {"traits": {"email": "a@example.com"}},
    "group": {"groupId": "acct-1", "traits": {"plan": "team"}},
    "page": {"name": "Home"},
    "screen": {"name": "Main"},
    "alias": {"previousId": "anon-1"},
}


@pytest.mark.parametrize("path", sorted(SINGLE))
def test_each_single_call_endpoint_writes_its_call_stamped(ingest: IngestProc, path: str) -> None:
    tag = uuid.uuid4().hex
    body = {**call("", tag), **SINGLE[path], "sentAt": SENT, "receivedAt": "1999-01-01T00:00:00Z"}
    r = post(ingest, f"/v1/{path}", body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["success"] is True
    assert (answer["accepted"], answer["rejected"]) == (1, 0), answer
    [(record, [written])] = tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag)
    assert written["type"] == path  # from the path: the body had no type
    assert written["sentAt"] == SENT  # the client's, kept
    assert written["receivedAt"] != "1999-01-01T00:00:00Z" and written["receivedAt"].startswith("20")
    assert "writeKey" not in written
    assert record.key == b"u-1"


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/import"])
def test_batch_and_import_take_an_envelope(ingest: IngestProc, path: str) -> None:
    tag = uuid.uuid4().hex
    body = {"batch": [call("track", tag, event="Login"), call("identify", tag)],
            "context": {"library": {"name": "raw"}}, "sentAt": SENT}
    r = post(ingest, path, body)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    [(record, calls)] = tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag)
    envelope = orjson.loads(record.value)
    assert envelope["sentAt"] == SENT and envelope["context"] == {"library": {"name": "raw"}}
    assert [c["type"] for c in calls] == ["track", "identify"]
    assert all("receivedAt" in c for c in calls)


def test_write_key_in_the_body_and_gzip(ingest: IngestProc) -> None:
    tag = uuid.uuid4().hex
    body = orjson.dumps({"batch": [call("track", tag, event="Login")], "writeKey": KEYS["backend"]})
    r = post(ingest, "/v1/batch", None, key=None, raw=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    [(_record, [written])] = tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag)
    assert written["event"] == "Login"


@pytest.mark.parametrize(("headers", "body"), [
    (auth("not-a-key"), {"batch": []}),                                  # unknown Basic key
    ({}, {"batch": [], "writeKey": "not-a-key"}),                         # unknown body key
    ({}, {"batch": []}),                                                  # no key at all
    ({"Authorization": "Bearer " + WEB}, {"batch": []}),                  # not Basic
    (auth(KEYS["web"] + "x"), {"batch": [], "writeKey": WEB}),            # the header decides
])
def test_401_for_a_missing_or_unknown_key(ingest: IngestProc, headers: dict[str, str], body: Any) -> None:
    r = post(ingest, "/v1/batch", body, key=None, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["success"] is False and r.json()["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(("path", "raw", "field"), [
    ("/v1/batch", b"{not json", "body"),
    ("/v1/batch", b"[1, 2]", "body"),
    ("/v1/batch", b'"text"', "body"),
    ("/v1/batch", b'{"context": {}}', "batch"),
    ("/v1/batch", b'{"batch": {"type": "track"}}', "batch"),
    ("/v1/import", b'{"batch": "all of them"}', "batch"),
    ("/v1/track", b'{"type": "identify", "userId": "u"}', "type"),
    ("/v1/track", b'{"event": "E", "userId": "u", "writeKey": 12}', "writeKey"),
])
def test_400_names_the_field(ingest: IngestProc, path: str, raw: bytes, field: str) -> None:
    key = None if field == "writeKey" else WEB
    r = post(ingest, path, None, key=key, raw=raw)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["success"] is False and r.json()["message"]


def test_413_over_the_batch_limit_on_the_wire(ingest: IngestProc) -> None:
    big = b'{"batch": [], "pad": "' + b"x" * 500_000 + b'"}'
    r = post(ingest, "/v1/batch", None, raw=big)
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_413_over_the_limit_without_content_length(ingest: IngestProc) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"batch": [], "pad": "'
        for _ in range(10):
            yield b"x" * 60_000
        yield b'"}'

    r = httpx.post(ingest.base + "/v1/batch", content=chunks(), headers=auth(WEB), timeout=30)
    assert r.status_code == 413


def test_413_for_a_gzip_bomb(ingest: IngestProc) -> None:
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b"0" * (50 << 20) + b'"}', compresslevel=9)
    assert len(bomb) < 500_000
    r = post(ingest, "/v1/batch", None, raw=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["message"]
    ingest.wait("/healthz", timeout=5)  # still answering


def test_invalid_calls_go_to_the_dlq_with_their_reason_and_the_batch_succeeds(ingest: IngestProc) -> None:
    tag = uuid.uuid4().hex
    batch = [call("track", tag, event="Login"),
             call("track", tag),                                         # no event name
             call("track", tag, event="Login", timestamp="yesterday"),   # bad time
             call("identify", tag, user="u-2"),
             call("bogus", tag, user="u-3")]
    r = post(ingest, "/v1/batch", {"batch": batch})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["success"], answer["accepted"], answer["rejected"]) == (True, 2, 3)
    assert [e["index"] for e in answer["errors"]] == [1, 2, 4]
    dead = [orjson.loads(r.value) for r in read_topic(ingest.bootstrap, ingest.dlq_topic)]
    mine = [d for d in dead if tag in d["raw_text"]]
    assert sorted(d["reason"] for d in mine) == sorted(e["reason"] for e in answer["errors"])
    assert {d["reason"] for d in mine} >= {"missing_event", "unknown_type"}
    for d in mine:
        element = orjson.loads(base64.b64decode(d["raw_b64"]))
        assert element["properties"]["tag"] == tag and "receivedAt" in element
        assert d["topic"] == "http:/v1/batch" and "'web'" in d["detail"]
    assert {d["key"] for d in mine} == {"u-1", "u-3"}
    written = [c for _rec, calls in tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag) for c in calls]
    assert sorted((c["type"], c["userId"]) for c in written) == [("identify", "u-2"), ("track", "u-1")]


async def _kafka_partitions(bootstrap: str, topic: str, senders: list[str]) -> dict[str, int]:
    """Where a plain keyed send (what `pulse produce` does) puts each sender."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return {s: (await (await producer.send(topic, b"probe", key=s.encode()))).partition for s in senders}
    finally:
        await producer.stop()


def test_one_record_per_partition_per_request(ingest: IngestProc, unique_topic: Any) -> None:
    tag = uuid.uuid4().hex
    senders = [f"sender-{i}" for i in range(12)]
    batch = [call("track", tag, user=senders[i % 12], event="Login", messageId=f"{tag}-{i}") for i in range(48)]
    batch.append(call("track", tag, user="", event="Login", context={"groupId": "acct-x"}))  # no sender
    r = post(ingest, "/v1/batch", {"batch": batch})
    assert r.status_code == 200 and r.json()["accepted"] == 49, r.text
    home = asyncio.run(_kafka_partitions(ingest.bootstrap, unique_topic("probe", partitions=4), senders))
    assert len(set(home.values())) > 1  # the test means something: several partitions
    mine = tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag)
    assert len(mine) == len(set(home.values()))  # one record per partition the senders hash to
    assert sorted(rec.partition for rec, _ in mine) == sorted(set(home.values()))
    for rec, calls in mine:
        for c in calls:
            if c["userId"]:
                assert home[c["userId"]] == rec.partition
        ids = [int(c["messageId"].rsplit("-", 1)[1]) for c in calls if c.get("messageId")]
        assert ids == sorted(ids)  # request order
    keyless = [rec.partition for rec, calls in mine if any(not c["userId"] for c in calls)]
    assert keyless == [home[senders[0]]]  # rides with the request's first sender


def test_metrics_count_requests_events_and_rejections(ingest: IngestProc) -> None:
    def scrape() -> dict[str, float]:
        out = {}
        for line in httpx.get(ingest.base + "/metrics").text.splitlines():
            if line.startswith("pulse_ingest_") and " " in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    ok = 'pulse_ingest_requests_total{path="/v1/batch",status="200"}'
    before = scrape()
    tag = uuid.uuid4().hex
    assert post(ingest, "/v1/batch", {"batch": [call("track", tag, event="A"), call("track", tag)]}).status_code == 200
    assert post(ingest, "/v1/batch", {"batch": []}, key="nope").status_code == 401
    after = scrape()
    assert after[ok] - before.get(ok, 0) == 1
    assert after['pulse_ingest_requests_total{path="/v1/batch",status="401"}'] >= 1
    assert after['pulse_ingest_events_total{outcome="accepted"}'] - before['pulse_ingest_events_total{outcome="accepted"}'] == 1
    assert after['pulse_ingest_events_total{outcome="rejected"}'] - before['pulse_ingest_events_total{outcome="rejected"}'] == 1
    assert after['pulse_ingest_rejected_total{reason="missing_event"}'] >= 1
    assert after['pulse_ingest_request_seconds_count{path="/v1/batch"}'] > before.get(
        'pulse_ingest_request_seconds_count{path="/v1/batch"}', 0)
    assert after["pulse_ingest_kafka_ready"] == 1 and after["pulse_ingest_in_flight"] == 0
    assert httpx.get(ingest.base + "/healthz").json() == {"status": "ok"}
    assert httpx.post(ingest.base + "/v1/nothing", content=b"{}", headers=auth(WEB)).status_code == 404


def test_503_with_retry_after_when_kafka_is_down(tmp_path: Path) -> None:
    dead = IngestProc(f"127.0.0.1:{free_port()}", tmp_path,
                      env_extra={"PULSE_INGEST_RETRY_AFTER_SECONDS": "7"}).start()
    try:
        dead.wait("/healthz")
        ready = httpx.get(dead.base + "/ready")
        assert ready.status_code == 503 and "Kafka" in ready.json()["reason"]
        r = post(dead, "/v1/track", call("", "t", event="Login"))
        assert r.status_code == 503 and r.headers["Retry-After"] == "7"
        assert r.json()["code"] == "unavailable"
        assert post(dead, "/v1/track", call("", "t", event="Login"), key="wrong").status_code == 401
    finally:
        dead.stop()


def test_a_bad_key_file_stops_the_start_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "keys.toml"
    bad.write_text('salt = "00112233445566778899aabbccddeeff"\n[[source]]\nname = "web"\nkey_hash = "secret"\n')
    out = subprocess.run([sys.executable, "-m", "streams.cli", "ingest", "--config", str(bad), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: {bad}: [source.0.key_hash] Value error, must be 64 lowercase hex characters, as "
        "`pulse ingest hash-key` prints (the key itself is never stored)"]


def test_real_client_shapes_are_accepted(ingest: IngestProc) -> None:
    """What real clients send: an integer groupId (analytics-python's group(group_id=4242)), a PHP
    client's integer userId and `context: []`, RudderStack's originalTimestamp + sentAt and no
    timestamp (the event time then needs the receivedAt the ingest stamps), alias."""
    tag = uuid.uuid4().hex
    batch = [
        {"type": "group", "userId": "u-int", "groupId": 4242, "timestamp": TS, "properties": {"tag": tag}},
        {"type": "track", "event": "Login", "userId": 1001, "context": [], "timestamp": TS,
         "properties": {"tag": tag}},
        {"type": "track", "event": "Login", "anonymousId": "anon-9", "originalTimestamp": TS,
         "sentAt": SENT, "properties": {"tag": tag}},
        {"type": "alias", "userId": "u-int", "previousId": "anon-9", "timestamp": TS, "properties": {"tag": tag}},
    ]
    r = post(ingest, "/v1/batch", {"batch": batch})
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["rejected"]) == (4, 0), r.text
    written = [c for _rec, calls in tagged(read_topic(ingest.bootstrap, ingest.events_topic), tag) for c in calls]
    assert sorted(str(c.get("userId") or c.get("anonymousId")) for c in written) == ["1001", "anon-9", "u-int", "u-int"]
    assert next(c for c in written if c.get("groupId"))["groupId"] == 4242  # written as sent
