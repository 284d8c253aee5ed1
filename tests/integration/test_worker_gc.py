"""The worker applies its garbage-collector settings (PULSE_WORKER_GC_*) and reports its
collections on /metrics: the thresholds it runs with, the objects frozen out of full collections
(the partitions' state among them) and every collection's pause."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from scoring.model import load_model
from streams.dev.telemetry import Config, write

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {m[1]: float(m[2]) for m in re.finditer(r'^(pulse_gc_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+]+)$', text, re.M)}


def test_the_worker_runs_with_its_gc_settings_and_freezes_its_state(pipeline, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_WORKER_GC_THRESHOLD", "[4000, 12, 30]")
    monkeypatch.setenv("PULSE_WORKER_GC_FREEZE_SECONDS", "0.5")
    events = tmp_path / "events.jsonl"
    write(Config(events=4000, accounts=300, seed=5), events)
    p = pipeline(partitions=2)
    p.produce(events)
    p.start()
    p.wait_caught_up()
    held = len(p.export(load_model(None)))
    assert held > 0
    time.sleep(1.5)  # a freeze after the last batch
    m = scrape(p.web_port)
    assert [m[f'pulse_gc_threshold{{generation="{g}"}}'] for g in "012"] == [4000, 12, 30]
    assert m["pulse_gc_frozen_objects"] > 0, m  # freezing is on (0 with PULSE_WORKER_GC_FREEZE_SECONDS=0)
    assert m['pulse_gc_pause_seconds_count{generation="0"}'] > 0, m
    assert m['pulse_gc_collections_total{generation="0"}'] > 0, m
