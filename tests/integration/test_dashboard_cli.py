"""`pulse dashboard` refuses to start with one clear line (exit 2) instead of a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from streams.dev.stack import free_port

pytestmark = pytest.mark.integration


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "dashboard", "--loglevel", "critical"],
                          env={**os.environ, "PULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.", **env},
                          capture_output=True, text=True, timeout=120)


def test_unreachable_kafka_is_one_line_naming_the_address() -> None:
    r = _run(KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    assert r.returncode == 2
    assert "error: Kafka at 127.0.0.1:" in r.stderr and "Traceback" not in r.stderr


def test_a_taken_port_is_one_line_naming_it(kafka_bootstrap: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _run(KAFKA_BOOTSTRAP=kafka_bootstrap, PULSE_DASHBOARD_PORT=str(port))
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_history_shorter_than_90_days_is_refused() -> None:
    r = _run(PULSE_DASHBOARD_HISTORY_DAYS="30")
    assert r.returncode == 2 and "PULSE_DASHBOARD_HISTORY_DAYS=30" in r.stderr
