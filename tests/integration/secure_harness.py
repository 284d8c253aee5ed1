"""A private secure stack for the security tests: `pulse stack up --secure` (Kafka SASL_SSL +
SCRAM-SHA-512 with a generated CA, Redis with an ACL user and the default user off) in a temporary
folder, on free ports, so the shared plain stack (19092/16379) is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from streams.dev import stack
from streams.dev.stack import StackPaths, free_port, stop_child
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SecureStack:
    stack: Settings       # what `pulse stack up --secure` ran with
    client: Settings      # a client of it (CA, SCRAM user, Redis ACL user)
    env: dict[str, str] = field(repr=False)  # the same as environment variables (.pulse/secure/pulse.env)
    paths: StackPaths

    @property
    def bootstrap(self) -> str:
        return self.client.bootstrap

    def secrets(self) -> dict[str, str]:
        from streams.dev.secure import credentials

        c = credentials(self.paths.home)
        return {"SASL password": c.kafka_password, "broker SASL password": c.broker_password,
                "Redis password": c.redis_password}

    def logs(self) -> list[Path]:
        return [self.paths.log_file("kafka"), self.paths.log_file("redis")]


def start_secure_stack(root: Path) -> Iterator[SecureStack]:
    """Start the secure stack under `root` (reusing the local stack's Kafka jars); stop it after."""
    jars = stack.ensure_jars(stack.paths_for(Settings()))
    root.mkdir(parents=True, exist_ok=True)
    (root / "jars").symlink_to(jars, target_is_directory=True)
    s = Settings().model_copy(update={
        "kafka_bootstrap": None, "redis_url": None, "stack_dir": root, "stack_secure": True,
        "kafka_port": free_port(), "kafka_controller_port": free_port(), "redis_port": free_port()})
    try:
        stack.up(s, timeout=150)
        env, _ = stack.secure_env(s)
        yield SecureStack(s, stack.client_settings(s), env, stack.paths_for(s))
    finally:
        stack.down(s)


@dataclass
class Proc:
    """A `pulse ...` child process with its log in a file."""

    name: str
    args: list[str]
    env: dict[str, str]
    tmp: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.tmp / f"{self.name}.log"

    def start(self) -> Proc:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, *self.args], env={**os.environ, **self.env},
                                     stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, \
            f"{self.name} exited: {self.log.read_text(errors='replace')[-3000:]}"

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.alive()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: {url} not 200 after {timeout}s:\n"
                             f"{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 20)
