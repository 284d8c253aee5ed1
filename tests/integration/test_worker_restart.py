"""After a restart the worker holds every assigned partition's state as soon as table recovery is
done, not when the partition's next record arrives (the metrics and the live sweep see it)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from scoring.model import load_model
from streams.dev.telemetry import Config, write

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def accounts_gauge(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    values = [float(v) for v in re.findall(r'^pulse_accounts\{band="[a-z_]+"\} ([0-9.e+]+)$', text, re.M)]
    return sum(values) if values else None


def test_a_restarted_worker_restores_every_partition_before_any_new_record(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=3000, accounts=60, seed=8), events)
    p = pipeline(partitions=4)
    p.produce(events)
    p.start()
    p.wait_caught_up()
    held = len(p.export(load_model(None)))
    assert held > 0
    p.stop()
    p.start()  # nothing more is produced: no partition gets a record after the restart
    deadline, seen = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        seen = accounts_gauge(p.web_port)
        if seen == held:
            break
        time.sleep(0.5)
    assert seen == held, f"pulse_accounts is {seen} after the restart, the state holds {held} accounts"
