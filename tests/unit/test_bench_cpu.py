"""`pulse bench stream` reports the worker's CPU seconds (streams/dev/bench.py `cpu_seconds`)."""

from __future__ import annotations

import subprocess
import sys

from streams.dev.bench import cpu_seconds


def test_cpu_seconds_counts_what_a_child_burnt() -> None:
    # a child that burns CPU until it has used 0.3 s of it (by its own clock), then waits
    code = "import time, sys\nwhile time.process_time() < 0.3: pass\nprint('ok', flush=True)\nsys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ok"
        assert 0.29 <= cpu_seconds(proc.pid) < 5  # the burn, plus the interpreter's start-up
    finally:
        proc.communicate(b"")
