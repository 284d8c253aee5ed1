"""A bad local-stack set-up ends with one clear line and a non-zero exit, not a stack trace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def stack_up(tmp_path: Path, env_extra: dict[str, str], path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update({"PULSE_STACK_DIR": str(tmp_path / "stack"), **env_extra})
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "streams.cli", "stack", "up", "--timeout", "20"],
                          env=env, capture_output=True, text=True, timeout=120)


def one_clear_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_a_taken_port_is_named_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = stack_up(tmp_path, {"PULSE_KAFKA_PORT": str(port), "PULSE_KAFKA_CONTROLLER_PORT": str(port + 1),
                                "PULSE_REDIS_PORT": "1"})
    line = one_clear_line(r)
    assert f"port {port}" in line and "PULSE_KAFKA_PORT" in line


def test_missing_java_is_one_line(tmp_path: Path) -> None:
    # a PATH with no java on it: only this venv's python and the basic tools
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    r = stack_up(tmp_path, {"PULSE_KAFKA_PORT": "29992", "PULSE_KAFKA_CONTROLLER_PORT": "29993"},
                 path=f"{bin_dir}:/usr/local/sbin:/sbin")
    assert "Java not found" in one_clear_line(r)


def test_a_failing_maven_download_is_one_line(tmp_path: Path) -> None:
    # Maven Central unreachable: point Maven at a mirror on a closed loopback port, empty local repo
    settings = tmp_path / "m2.xml"
    settings.write_text(
        "<settings><localRepository>" + str(tmp_path / "repo") + "</localRepository><mirrors><mirror>"
        "<id>closed</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:9/</url></mirror></mirrors></settings>")
    r = stack_up(tmp_path, {"PULSE_KAFKA_PORT": "29994", "PULSE_KAFKA_CONTROLLER_PORT": "29995",
                            "PULSE_MAVEN_ARGS": f"-s {settings}"})
    line = one_clear_line(r)
    assert "could not download Kafka's jars from Maven Central" in line
