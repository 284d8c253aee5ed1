"""A private Kafka broker (KRaft) and Redis for one chaos run, on free ports, in the run's own folder.

The harness kills and restarts both, so it never uses the shared stack (19092/16379): it starts
its own through `streams.dev.stack` (the code behind `pulse stack up`), with its own ports
(`PULSE_KAFKA_PORT` / `PULSE_KAFKA_CONTROLLER_PORT` / `PULSE_REDIS_PORT`) and data folder. Kafka's
jars are shared with the local stack (`.pulse/jars`, linked, downloaded by Maven if missing).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from streams.dev import stack
from streams.dev.stack import StackPaths, free_port
from streams.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _jars_dir() -> Path:
    """Kafka's jars: $PULSE_STACK_DIR/jars, else the checkout's .pulse/jars."""
    base = Path(os.environ.get("PULSE_STACK_DIR") or REPO_ROOT / ".pulse")
    return (base / "jars").resolve()


@dataclass
class PrivateStack:
    root: Path
    kafka_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)

    @property
    def settings(self) -> Settings:
        # explicit None: never pick up the shared stack's KAFKA_BOOTSTRAP / REDIS_URL from the env
        return Settings(kafka_bootstrap=None, redis_url=None, stack_dir=self.root,
                        kafka_port=self.kafka_port, kafka_controller_port=self.controller_port,
                        redis_port=self.redis_port)

    @property
    def paths(self) -> StackPaths:
        return StackPaths(self.root)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        """What a child process of the run needs to talk to this stack and nothing else."""
        return {"KAFKA_BOOTSTRAP": self.bootstrap, "REDIS_URL": self.redis_url,
                "PULSE_KAFKA_PORT": str(self.kafka_port),
                "PULSE_KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "PULSE_REDIS_PORT": str(self.redis_port), "PULSE_STACK_DIR": str(self.root)}

    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        jars = self.root / "jars"
        if not jars.exists():
            src = _jars_dir()
            src.mkdir(parents=True, exist_ok=True)
            jars.symlink_to(src, target_is_directory=True)
        s = self.settings
        stack.up(s, timeout=120)

    # -- faults ---------------------------------------------------------------------
    def pid(self, service: str) -> int | None:
        return stack.running_pid(self.paths, service)

    def kill(self, service: str) -> None:
        """SIGKILL `service` ("kafka" or "redis") and reap it."""
        pid = self.pid(service)
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and not stack._is_zombie(pid):
            time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def start(self, service: str, timeout: float = 120.0) -> float:
        """Start `service` again (same ports and data); returns the seconds until it answers."""
        t0 = time.monotonic()
        s, p = self.settings, self.paths
        if service == "kafka":
            pid = stack.start_kafka(s, p)
            stack.wait_kafka(s.bootstrap, timeout=timeout, pid_check=(p, pid) if pid else None)
        else:
            stack.start_redis(s, p)
            stack.wait_redis(s.redis, timeout=timeout)
        return time.monotonic() - t0

    def alive(self, service: str) -> bool:
        return self.pid(service) is not None

    def down(self) -> None:
        stack.down(self.settings)
