"""The commit stall of the chaos runs (docs/chaos.md "The commit stall"), forced on the real broker:
a Faust app on Pulse's transport processes a whole topic and the commit of its last offset fails
once (tests/integration/commit_fault_app.py). With Pulse's consumer the group's committed offset
still reaches the log end; with stock Faust's commit methods it does not (which is what makes this
test a test of the fix; if a Faust release fixes the stall itself, the stock cases fail and say so)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka import ensure_topics, group_lag

pytestmark = [pytest.mark.integration]

N = 2000


def _produce(bootstrap: str, topic: str) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
        await producer.start()
        try:
            for i in range(N):
                await producer.send(topic, b"x", key=str(i).encode(), partition=0)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    rows = asyncio.run(group_lag(bootstrap, group, [topic]))
    return rows[0].committed if rows else None


def _run(bootstrap: str, tmp_path: Path, fault: str, stock: bool, wait: float) -> tuple[int | None, str]:
    """Run the app until its group has committed N or `wait` s after the fault; the committed offset
    it got to and the app's output."""
    topic, group = f"tcommit-{uuid.uuid4().hex[:8]}", f"commit-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], 1)
    _produce(bootstrap, topic)
    out = tmp_path / f"{fault}-{'stock' if stock else 'pulse'}.log"
    args = [sys.executable, "-m", "tests.integration.commit_fault_app", "--bootstrap", bootstrap,
            "--topic", topic, "--app-id", group, "--end", str(N), "--fault", fault] + (["--stock"] if stock else [])
    proc = subprocess.Popen(args, stdout=out.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "FAULT" not in out.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        deadline = time.monotonic() + wait
        committed = _committed(bootstrap, group, topic)
        while committed != N and time.monotonic() < deadline:
            time.sleep(0.5)
            committed = _committed(bootstrap, group, topic)
        assert proc.poll() is None, out.read_text(errors="replace")[-3000:]
        return committed, out.read_text(errors="replace")
    finally:
        proc.kill()  # a stock app whose commit hangs also hangs on a graceful stop
        proc.wait(30)


@pytest.mark.parametrize("fault", ["refused", "hang"])
def test_a_failed_commit_of_the_last_offset_is_taken_over_by_the_next(kafka_bootstrap: str, tmp_path: Path,
                                                                      fault: str) -> None:
    committed, log = _run(kafka_bootstrap, tmp_path, fault, stock=False, wait=30.0)
    assert "ASSIGNED FastConsumer" in log, log[-2000:]
    assert committed == N, f"group committed {committed} of {N} after the {fault} commit:\n{log[-2000:]}"


@pytest.mark.parametrize("fault", ["refused", "hang"])
def test_stock_faust_stalls_on_the_same_fault(kafka_bootstrap: str, tmp_path: Path, fault: str) -> None:
    """Stock faust-streaming's commit path under the same fault: the group's committed offset stays
    below the end although every record was processed. If this fails, the installed Faust no longer
    stalls here: read its Consumer._commit_offsets / _new_offset and drop what OwedCommits no
    longer needs (docs/faust.md section 5)."""
    committed, log = _run(kafka_bootstrap, tmp_path, fault, stock=True, wait=8.0)
    assert "FAULT" in log
    assert committed is not None and committed < N, (
        f"stock Faust reached the end ({committed} of {N}) after the {fault} commit: the stall is fixed upstream?")
