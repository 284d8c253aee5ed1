"""Run `pulse dashboard` as a subprocess against a real pipeline (stream_harness.Pipeline)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from streams.dev.stack import free_port
from tests.integration.stream_harness import Pipeline

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class DashboardProc:
    pipeline: Pipeline
    model_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = self.port or free_port()
        log = (self.pipeline.tmp / "dashboard.log").open("ab")
        env = {**self.pipeline.env(), "PULSE_DASHBOARD_PORT": str(self.port),
               "PULSE_DASHBOARD_FLUSH_SECONDS": "1", "PULSE_DASHBOARD_REDIS_PREFIX": self.pipeline.prefix}
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "dashboard", "--model",
                                      str(self.model_path), "--loglevel", "warning"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("dashboard not ready:\n" + self.log_tail())

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        p = self.pipeline.tmp / "dashboard.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""
