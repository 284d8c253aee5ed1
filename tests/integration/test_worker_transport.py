"""The worker on Pulse's Faust transport (streams/worker/transport.py), on the real broker:
it really runs (no silent fallback to stock Faust), a full stream buffer during a rebalance does
not deadlock (#229), and rebalances / kill -9 leave the same final state as the pure core."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from scoring.model import load_model, parse_model
from streams.dev.telemetry import Config, generate, write
from streams.kafka import ensure_topics, group_lag, wait_caught_up
from streams.topics import TopicNames
from tests.integration.stream_harness import Pipeline, core_run, expected_alerts
from tests.integration.test_stream_pipeline import WINDOW_MODEL, assert_recovered, assert_same, split_by_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def consumer_view(p: Pipeline) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{p.web_port}/pulse/consumer", timeout=10).json()  # type: ignore[no-any-return]


def _view_or_why(p: Pipeline) -> Any:
    try:
        return consumer_view(p)
    except (httpx.HTTPError, ValueError) as exc:
        return f"not answering: {exc!r}"


def wait_for(what: str, check: Any, timeout: float = 120.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_worker_runs_the_fast_consumer_and_coalesces_fetches(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=3000, accounts=50, seed=2), events)
    p = pipeline()
    n = p.produce(events)
    p.start()
    p.wait_caught_up()
    view = consumer_view(p)
    assert view["class"] == "streams.worker.transport.FastConsumer", view
    assert view["fast"] > view["suspended"], view  # most deliveries built no task
    # the events were produced before the worker started: they came in whole fetches, each
    # partition's share delivered as one Faust message
    assert view["coalesced_records"] >= n // 2, view
    assert view["coalesced_batches"] * 10 <= view["coalesced_records"], view
    assert view["fast"] + view["suspended"] < n // 2, view  # far fewer Faust messages than records
    # the commit bookkeeping (streams/worker/commits.py): caught up, Faust's committed offsets are
    # the log ends the broker has, and nothing is left acked or in a gap
    rows = {r["tp"]: r for r in view["partitions"]}
    events = [r for r in rows.values() if r["topic"] == p.names.events]
    assert events and all(r["assigned"] for r in events), rows
    assert sum(r["committed"] or 0 for r in events) == n, rows
    assert all(r["acked"] == 0 and r["gap_offsets"] == 0 for r in events), rows
    metrics = httpx.get(f"http://127.0.0.1:{p.web_port}/metrics", timeout=10).text
    assert f'pulse_consumer_committed_offset{{partition="0",topic="{p.names.events}"}}' in metrics, metrics[-2000:]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_full_stream_buffer_during_two_rebalances_does_not_deadlock(kafka_bootstrap: str, tmp_path: Path) -> None:
    """faust-streaming #229 on Pulse's drain loop: deliveries blocked on a full buffer while a
    second member joins and leaves; both rebalances finish and every record is processed."""
    topic, app_id = f"t229-{uuid.uuid4().hex[:8]}", f"slow-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], 4)
    n = 4000

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
        await producer.start()
        try:
            for i in range(n):
                await producer.send(topic, b"x", key=str(i).encode(), partition=i % 4)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(produce())
    out = tmp_path / "slow"
    out.mkdir()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "tests.integration.slow_faust_app", "--bootstrap",
                                 kafka_bootstrap, "--topic", topic, "--app-id", app_id, "--out", str(out)],
                                stdout=(tmp_path / "slow.log").open("ab"), stderr=subprocess.STDOUT)

    a = start()
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_for("the first member to process 200 events", lambda: len(_lines(out / f"{a.pid}.txt")) >= 200)
        b = start()
        bp = b.pid
        joined = wait_for("the join rebalance", lambda: [json.loads(x) for x in _lines(out / f"{bp}.assigned")
                                                         if json.loads(x)["tps"]])
        a_assigned = [json.loads(x) for x in _lines(out / f"{a.pid}.assigned")]
        assert joined[0]["consumer"] == "FastConsumer"
        assert a_assigned[0]["suspended"] is not None
        wait_for("the second member to process events", lambda: len(_lines(out / f"{bp}.txt")) >= 50)
        b.send_signal(signal.SIGTERM)
        b.wait(60)
        wait_for("the leave rebalance (all four partitions back on the first member)",
                 lambda: any(json.loads(x)["tps"] == [0, 1, 2, 3]
                             for x in _lines(out / f"{a.pid}.assigned")[1:]))
        asyncio.run(wait_caught_up(kafka_bootstrap, app_id, [topic], timeout=300))
        assert a.poll() is None, (tmp_path / "slow.log").read_text()[-3000:]
        seen = {tuple(map(int, x.split())) for f in out.glob("*.txt") for x in _lines(f)}
        missing = [(i % 4, i // 4) for i in range(n) if (i % 4, i // 4) not in seen]
        assert not missing, f"{len(missing)} records never processed, e.g. {missing[:5]}"
        suspended = [json.loads(x)["suspended"] for x in _lines(out / f"{a.pid}.assigned")]
        assert max(suspended) > 0, "no delivery ever waited: the buffer was never full, the test proves nothing"
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)


def _four_partition_day_stream(tmp_path: Path) -> tuple[list[list[bytes]], Path, Any, Path]:
    cfg = Config(events=2400, accounts=24, days=20, seed=5, single_user=True, ooo_rate=0.0,
                 late_rate=0.0, batch_rate=0.0, window_days=7)
    lines = list(generate(cfg))
    lines += [orjson.dumps({"type": "track", "event": "Login", "userId": f"u{i}-0",
                            "context": {"groupId": f"acct-{i:06d}"}, "messageId": f"final-{i}",
                            "timestamp": "2026-08-21T12:00:00Z"}) for i in range(cfg.accounts)]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    text = WINDOW_MODEL.replace("window_days = 14", "window_days = 7")
    model_path = tmp_path / "model.toml"
    model_path.write_text(text)
    return split_by_day(lines), events, parse_model(text), model_path


def test_a_second_worker_joining_and_leaving_mid_stream_gives_replays_answers(pipeline, tmp_path: Path) -> None:
    days, events, model, model_path = _four_partition_day_stream(tmp_path)
    a = pipeline(model_path=model_path, partitions=4)
    (tmp_path / "second").mkdir()
    b = Pipeline(a.bootstrap, tmp_path / "second", partitions=4, model_path=model_path, prefix=a.prefix)
    a.start()
    try:
        for n, day in enumerate(days):
            if n == len(days) // 3:
                b.start()  # joins: the partitions are shared, state moves through the changelog
            if n == 2 * len(days) // 3:
                b.stop()  # leaves: the first worker takes every partition back
            chunk = tmp_path / f"day-{n}.jsonl"
            chunk.write_bytes(b"\n".join(day) + b"\n")
            a.produce(chunk)
            try:
                a.wait_caught_up(settle=0.5)
            except TimeoutError as exc:  # say where each worker's commit bookkeeping stands
                views = {name: _view_or_why(p) for name, p in (("first", a), ("second", b))}
                raise AssertionError(f"day {n} of {len(days)}: {exc}; /pulse/consumer: {views}") from None
        b_log = (tmp_path / "second" / "worker.log")
        assert b.proc is not None and b.proc.returncode is not None, "the second worker did not stop"
        scores, changes, _ = core_run(events, model)
        assert_same(a.export(model), a.alerts(), scores, expected_alerts(changes))
        assert consumer_view(a)["class"] == "streams.worker.transport.FastConsumer"
        assert b_log.exists()
    finally:
        b.stop()


def test_kill_9_three_times_mid_stream_same_final_state_no_alert_lost_or_invented(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=20000, accounts=200, days=60, seed=11), events)
    model = load_model(None)
    p = pipeline()
    # The worker catches up on 20k records within about a second, faster than a kill timed on its
    # commits can land. So the input goes in four parts: after each of the first three the worker
    # is killed as soon as its first `scored` record for that part is on the broker (in the middle
    # of its batches, before its once-a-second commit), restarted, and the next part follows.
    lines = events.read_bytes().splitlines(keepends=True)
    cut = len(lines) // 4
    parts = [lines[:cut], lines[cut:2 * cut], lines[2 * cut:3 * cut], lines[3 * cut:]]
    names = TopicNames.from_settings(p.settings)
    group, topics = names.worker_app, [names.events, names.scored]
    p.start()
    kills, uncommitted_at_kill = 0, 0
    for n, part in enumerate(parts):
        before = sum(x.end for x in asyncio.run(group_lag(p.bootstrap, group, topics)) if x.topic == names.scored)
        chunk = tmp_path / f"part-{n}.jsonl"
        chunk.write_bytes(b"".join(part))
        p.produce(chunk)
        if n == len(parts) - 1:
            break
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lags = asyncio.run(group_lag(p.bootstrap, group, topics))
            if sum(x.end for x in lags if x.topic == names.scored) > before:
                break
            time.sleep(0.02)
        p.kill()
        kills += 1
        uncommitted_at_kill += sum(x.end - (x.committed or 0) for x in lags) > 0
        p.start()
    assert kills == 3
    # a kill after the worker had committed everything it read would test nothing
    assert uncommitted_at_kill >= 1, "every kill came after the worker had committed all it read"
    p.wait_caught_up(timeout=600)
    assert_recovered(p, events, model)
