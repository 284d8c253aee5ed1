"""End to end through the CLI a user types: worker, produce, alerts tail, scores export, replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from streams.dev.stack import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.jsonl"


def pulse(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_telemetry_through_the_cli_matches_the_backtest(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap, "PULSE_TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:6]}.",
           "PULSE_DATA_DIR": str(tmp_path / "data")}
    backtest = pulse("replay", str(DEMO), "--out", str(tmp_path / "replay"), env=env)
    assert backtest.returncode == 0, backtest.stderr
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker", "--web-port", str(free_port()),
                               "--loglevel", "warning"], env=env, stdout=(tmp_path / "worker.log").open("wb"),
                              stderr=subprocess.STDOUT)
    try:
        sent = pulse("produce", str(DEMO), env=env)
        n_lines = sum(1 for x in DEMO.read_bytes().splitlines() if x.strip())
        assert sent.returncode == 0 and f"sent {n_lines} events" in sent.stderr, sent.stderr
        want_scores = (tmp_path / "replay" / "scores.jsonl").read_bytes()
        deadline, got = time.monotonic() + 120, b""
        while time.monotonic() < deadline:
            exported = pulse("scores", "export", str(tmp_path / "export.jsonl"), env=env)
            if exported.returncode == 2 and "no worker state found" in exported.stderr:
                time.sleep(1)  # the worker has not written its first state yet
                continue
            assert exported.returncode == 0, exported.stderr
            got = (tmp_path / "export.jsonl").read_bytes()
            if got == want_scores:
                break
            time.sleep(1)
        assert got == want_scores  # byte for byte, the backtest's scores.jsonl
        tail = pulse("alerts", "tail", "--from-beginning", "--json", "--idle-exit", "3", env=env)
        assert tail.returncode == 0, tail.stderr
        alerts = [orjson.loads(x) for x in tail.stdout.splitlines()]
        changes = [orjson.loads(x) for x in (tmp_path / "replay" / "changes.jsonl").read_bytes().splitlines()]
        want = [(c["account"], c["from"], c["to"], c["score"], c["at"]) for c in changes if c["from"]]
        band = [a for a in alerts if a["kind"] == "engagement" and a["reason"] in ("band_change", "sweep")]
        assert [(a["account"], a["from"], a["to"], a["score"], a["at"]) for a in band] == want
        # the default model has [health]: health band changes and signals are alerts too
        health = [orjson.loads(x) for x in (tmp_path / "replay" / "health_changes.jsonl").read_bytes().splitlines()]
        want_h = [(c["account"], c["from"], c["to"], c["score"], c["at"]) for c in health if c["from"]]
        got_h = [a for a in alerts if a["kind"] == "health" and a["reason"] in ("band_change", "sweep")]
        assert [(a["account"], a["from"], a["to"], a["score"], a["at"]) for a in got_h] == want_h
        signals = [orjson.loads(x) for x in (tmp_path / "replay" / "signals.jsonl").read_bytes().splitlines()]
        got_s = [a for a in alerts if a["reason"] not in ("band_change", "sweep")]
        assert [(a["account"], a["reason"], a["at"]) for a in got_s] == \
            [(s["account"], s["reason"], s["at"]) for s in signals]
        assert {a["traits"].get("plan") for a in alerts} >= {"enterprise", "team"}  # traits from group calls
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
