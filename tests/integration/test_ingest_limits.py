"""Limits of `pulse ingest`, with raw HTTP against the real process and the real broker: the rate
limit per write key (429 + Retry-After, nothing written for a refused request) and the size limits
(the body before it is parsed; 32 KiB per event as the client wrote it)."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from scoring.events import MAX_EVENT_BYTES
from streams.kafka import ensure_topics
from tests.integration.ingest_harness import IngestProc, read_topic

pytestmark = pytest.mark.integration
KEYS = {"tight": "wk-tight-0123456789", "open": "wk-open-0123456789", "body": "wk-body-0123456789"}
TIGHT_RATE, TIGHT_BURST = 0.2, 3  # a token every 5 s after a burst of 3


@pytest.fixture(scope="module")
def ingest(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProc]:
    p = IngestProc(kafka_bootstrap, tmp_path_factory.mktemp("ingest-limits"), keys=dict(KEYS), key_extra={
        "tight": f"rate_limit = {{ requests_per_second = {TIGHT_RATE}, burst = {TIGHT_BURST} }}",
        "body": f"rate_limit = {{ requests_per_second = {TIGHT_RATE}, burst = 1 }}"})
    ensure_topics(kafka_bootstrap, [p.events_topic, p.dlq_topic], 1)
    p.start()
    p.wait("/ready")
    yield p
    p.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json"}


def track(tag: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Login", "userId": "u-1", "timestamp": "2026-10-01T09:00:00Z",
            "properties": {"tag": tag, **extra}}


def post(ingest: IngestProc, key: str | None, body: bytes, path: str = "/v1/track") -> httpx.Response:
    headers = auth(key) if key else {"Content-Type": "application/json"}
    return httpx.post(ingest.base + path, content=body, headers=headers, timeout=30)


def tags_written(ingest: IngestProc) -> list[str]:
    return [c["properties"]["tag"] for r in read_topic(ingest.bootstrap, ingest.events_topic)
            for c in orjson.loads(r.value)["batch"]]


def test_a_source_over_its_rate_limit_gets_429_with_retry_after_and_nothing_is_written(
        ingest: IngestProc) -> None:
    run = uuid.uuid4().hex[:8]
    started, answers = time.monotonic(), []
    for i in range(TIGHT_BURST + 3):
        answers.append(post(ingest, KEYS["tight"], orjson.dumps(track(f"{run}-tight-{i}"))))
    elapsed = time.monotonic() - started
    codes = [r.status_code for r in answers]
    first_429 = codes.index(429)
    # the burst, plus whatever the bucket refilled meanwhile (a slow machine: more time, more tokens)
    assert TIGHT_BURST <= first_429 <= TIGHT_BURST + int(elapsed * TIGHT_RATE), (codes, elapsed)
    refused = answers[first_429]
    assert refused.json()["code"] == "rate_limited" and "'tight'" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 1 / TIGHT_RATE

    # another write key is not limited by this one's bucket; an unknown key is 401, not 429
    assert [post(ingest, KEYS["open"], orjson.dumps(track(f"{run}-open-{i}"))).status_code
            for i in range(10)] == [200] * 10
    assert post(ingest, "wk-nobody", orjson.dumps(track("x"))).status_code == 401

    time.sleep(int(refused.headers["Retry-After"]))  # as the client is told: then it gets in
    assert post(ingest, KEYS["tight"], orjson.dumps(track(f"{run}-after"))).status_code == 200

    accepted = {f"{run}-tight-{i}" for i, c in enumerate(codes) if c == 200} | {f"{run}-after"} \
        | {f"{run}-open-{i}" for i in range(10)}
    written = [t for t in tags_written(ingest) if t.startswith(run)]
    assert sorted(written) == sorted(accepted)  # each accepted call once, no refused one

    metrics = httpx.get(ingest.base + "/metrics", timeout=10).text
    n_429 = codes.count(429)
    assert f'pulse_ingest_rate_limited_total{{source="tight"}} {float(n_429)}' in metrics, metrics[-2000:]


def test_a_write_key_in_the_body_is_limited_too(ingest: IngestProc) -> None:
    body = orjson.dumps({**track("in-body"), "writeKey": KEYS["body"]})
    codes = [post(ingest, None, body).status_code for _ in range(3)]
    assert codes[0] == 200 and 429 in codes


def test_a_bad_rate_limit_stops_the_start_naming_file_key_and_why(tmp_path: Path) -> None:
    bad = tmp_path / "keys.toml"
    bad.write_text('salt = "00112233445566778899aabbccddeeff"\n[rate_limit]\nrequests_per_second = -1\n'
                   'burst = 10\n[[source]]\nname = "web"\nkey_hash = "' + "a" * 64 + '"\n')
    out = subprocess.run([sys.executable, "-m", "streams.cli", "ingest", "--config", str(bad), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: {bad}: [rate_limit.requests_per_second] Input should be greater than 0"]


def test_the_body_limit_comes_before_parsing(ingest: IngestProc) -> None:
    not_json = b"{" + b"x" * 500_000  # parsed, it would be a 400
    r = post(ingest, KEYS["open"], not_json, path="/v1/batch")
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert post(ingest, KEYS["open"], b"{" + b"x" * 1000, path="/v1/batch").status_code == 400


def test_32_kib_per_event_counts_the_clients_bytes_not_the_received_at_stamp(ingest: IngestProc) -> None:
    run = uuid.uuid4().hex[:8]
    base = len(orjson.dumps(track(f"{run}-big1", pad="")))
    exact = orjson.dumps(track(f"{run}-big1", pad="x" * (MAX_EVENT_BYTES - base)))
    over = orjson.dumps(track(f"{run}-big2", pad="x" * (MAX_EVENT_BYTES - base + 1)))
    assert len(exact) == MAX_EVENT_BYTES and len(over) == MAX_EVENT_BYTES + 1
    ok = post(ingest, KEYS["open"], exact)
    assert ok.status_code == 200 and ok.json()["accepted"] == 1, ok.text
    no = post(ingest, KEYS["open"], over)
    assert no.status_code == 200 and no.json()["rejected"] == 1 and no.json()["errors"][0]["reason"] == "oversize"
    [written] = [c for r in read_topic(ingest.bootstrap, ingest.events_topic)
                 for c in orjson.loads(r.value)["batch"] if c["properties"]["tag"].startswith(run)]
    assert written["properties"]["tag"] == f"{run}-big1" and "receivedAt" in written
    assert len(orjson.dumps(written)) > MAX_EVENT_BYTES  # stamped, it is over: the stamp is not counted
