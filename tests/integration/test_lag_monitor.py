"""The worker's /metrics, /lag, /healthz, /ready and `pulse lag`, on the real broker.

- /metrics after a file flowed through a worker counts what `pulse replay` counts on the same file;
- `pulse lag` (the CLI, as a subprocess) says OK while the worker keeps up, shows lag growing and
  STALL or STOP while it is dead and events keep arriving, and OK again once it restarted and
  caught up.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoring.model import load_model
from streams.dev.produce import produce_file
from streams.dev.telemetry import Config, write
from streams.offline.replay import replay
from tests.integration.stream_harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def fast_lag_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # a small, fast lag window in the worker; a short session so a killed member leaves soon
    monkeypatch.setenv("PULSE_LAG_INTERVAL", "0.5")
    monkeypatch.setenv("PULSE_LAG_SAMPLES", "3")
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "10")


def http_get(p: Pipeline, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{p.web_port}{path}", timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except urllib.error.URLError:  # not listening yet
        return 0, b""


def scrape(p: Pipeline) -> Metrics:
    status, body = http_get(p, "/metrics")
    assert status == 200
    out: Metrics = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(m: Metrics, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in m.items() if n == name and want <= set(lab))


def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (the waiting is bounded, nothing is timed)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)


def test_metrics_count_what_replay_counts_and_lag_endpoint_is_ok(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=6000, accounts=60, days=40, seed=11, window_days=30, bad_rate=0.01), events)
    result = replay(events, load_model(None), tmp_path / "replay")
    summary = result.summary
    p = pipeline()
    p.start()
    eventually(lambda: http_get(p, "/healthz")[0] == 200 if p.proc and p.proc.poll() is None else None,
               "the worker answers /healthz")
    sent = p.produce(events)
    p.wait_caught_up()
    alerts = p.alerts()

    m = scrape(p)
    for outcome in ("accepted", "duplicate", "late", "invalid"):
        assert total(m, "pulse_events_total", outcome=outcome) == summary[outcome], outcome
    assert summary["invalid"] > 0 and summary["duplicate"] > 0  # the file exercises those paths
    assert total(m, "pulse_events_total", outcome="consumed") == sent
    assert {lab[0][1]: v for (n, lab), v in m.items() if n == "pulse_events_invalid_total"} == \
        result.invalid_reasons
    assert total(m, "pulse_accounts") == summary["accounts"]
    assert total(m, "pulse_table_keys", table="scorer-accounts") == summary["accounts"]
    assert total(m, "pulse_alerts_total") == len(alerts) > 0
    for a in alerts[:20]:
        assert total(m, "pulse_alerts_total", kind=a["kind"], from_band=a["from"], to_band=a["to"]) >= 1
    assert total(m, "pulse_batch_seconds_count", agent="resolve") > 0
    assert total(m, "pulse_batch_seconds_count", agent="score") > 0
    assert total(m, "pulse_event_lag_seconds_count") > 0
    assert total(m, "pulse_alert_emit_seconds_count") > 0

    status, body = http_get(p, "/ready")
    assert status == 200 and json.loads(body)["ready"] is True


    def lag_ok() -> dict[str, Any] | None:
        doc = json.loads(http_get(p, "/lag")[1])
        rows = {(r["topic"], r["partition"]): r for r in doc["partitions"]}
        if set(rows) != {(p.names.events, 0), (p.names.scored, 0)}:
            return None
        return doc if all(r["lag"] == 0 and r["status"] == "OK" for r in rows.values()) else None

    doc = eventually(lag_ok, "/lag shows both topics caught up")
    assert doc["group"] == p.names.worker_app and doc["samples"] == 3
    events_row = next(r for r in doc["partitions"] if r["topic"] == p.names.events)
    assert events_row["committed"] == events_row["end"] == sent
    m = scrape(p)
    assert total(m, "pulse_consumer_lag", topic=p.names.events) == 0
    assert total(m, "pulse_consumer_lag_status", topic=p.names.events, status="OK") == 1
    assert total(m, "pulse_consumer_lag_status", topic=p.names.events) == 1  # one status at a time


def pulse_lag(p: Pipeline) -> tuple[int, dict[tuple[str, int], dict[str, Any]]]:
    """`pulse lag --json` for the worker's group, as a user runs it; (exit code, rows by partition)."""
    run = subprocess.run([sys.executable, "-m", "streams.cli", "lag", "--group", p.names.worker_app,
                          "--json", "--samples", "3", "--interval", "0.5"],
                         env=p.env(), capture_output=True, timeout=60)
    assert run.returncode in (0, 1), run.stderr.decode()
    doc = json.loads(run.stdout)
    return run.returncode, {(r["topic"], r["partition"]): r for r in doc["partitions"]}


class Producer(threading.Thread):
    """Keeps producing a small file to the events topic until stopped."""

    def __init__(self, p: Pipeline, chunk: Path) -> None:
        super().__init__(daemon=True)
        self.p, self.chunk, self.stopped, self.rounds = p, chunk, threading.Event(), 0

    def run(self) -> None:
        while not self.stopped.is_set():
            asyncio.run(produce_file(self.chunk, self.p.bootstrap, self.p.names.events))
            self.rounds += 1
            self.stopped.wait(0.2)


def test_pulse_lag_sees_a_dead_worker_fall_behind_and_recover(pipeline, tmp_path: Path) -> None:
    first, chunk = tmp_path / "first.jsonl", tmp_path / "chunk.jsonl"
    write(Config(events=2000, accounts=30, days=20, seed=5), first)
    write(Config(events=300, accounts=30, days=20, seed=6), chunk)
    p = pipeline()
    p.start()
    p.produce(first)
    p.wait_caught_up()
    events = (p.names.events, 0)

    code, rows = pulse_lag(p)
    assert code == 0 and rows[events]["lag"] == 0
    assert {r["status"] for r in rows.values()} == {"OK"}

    p.kill()  # kill -9: the member stays in the group until its session times out
    producer = Producer(p, chunk)
    producer.start()
    try:
        eventually(lambda: producer.rounds >= 1, "events produced after the kill")
        code, before = pulse_lag(p)
        seen = producer.rounds  # a round that starts after this one ends adds records after the poll
        eventually(lambda: producer.rounds >= seen + 2, "more events produced")
        code2, after = pulse_lag(p)
    finally:
        producer.stopped.set()
        producer.join(60)
    assert before[events]["lag"] > 0
    assert after[events]["lag"] > before[events]["lag"]  # lag grows while nobody consumes
    assert after[events]["committed"] == before[events]["committed"]  # and nothing is committed
    assert before[events]["status"] in ("STALL", "STOP")
    assert after[events]["status"] in ("STALL", "STOP")
    assert code == code2 == 1  # not OK -> exit status 1

    p.start()  # the same group, from its committed offsets
    p.wait_caught_up()
    code, rows = pulse_lag(p)
    assert rows[events]["lag"] == 0 and rows[events]["committed"] > after[events]["committed"]
    assert {r["status"] for r in rows.values()} == {"OK"} and code == 0
