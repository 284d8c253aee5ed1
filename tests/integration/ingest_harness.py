"""Run the real `pulse ingest` as a subprocess on a free port, and read what it wrote to Kafka."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.dev.stack import free_port, stop_child
from streams.ingest.auth import hash_key, new_salt

KEYS = {"web": "wk-web-0123456789", "backend": "wk-backend-9876543210"}


def write_key_file(path: Path, keys: dict[str, str], extra: dict[str, str] | None = None,
                   head: str = "") -> Path:
    """`extra`: source name -> more TOML lines of its [[source]]; `head`: TOML before the sources."""
    salt = new_salt()
    sources = "".join(f'[[source]]\nname = "{name}"\nkey_hash = "{hash_key(salt, key)}"\n'
                      f'{(extra or {}).get(name, "")}\n\n' for name, key in keys.items())
    path.write_text(f'salt = "{salt}"\n{head}\n{sources}')
    return path


@dataclass
class IngestProc:
    bootstrap: str
    tmp: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    port: int = field(default_factory=free_port)
    keys: dict[str, str] = field(default_factory=lambda: dict(KEYS))
    env_extra: dict[str, str] = field(default_factory=dict)
    key_extra: dict[str, str] = field(default_factory=dict)  # source -> more TOML (write_key_file)
    key_head: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.prefix}events-dlq"

    def start(self) -> IngestProc:
        config = write_key_file(self.tmp / f"keys-{self.port}.toml", self.keys, self.key_extra, self.key_head)
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap, "PULSE_TOPIC_PREFIX": self.prefix,
               **self.env_extra}
        log = (self.tmp / f"ingest-{self.port}.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest", "--config", str(config),
                                      "--port", str(self.port), "--loglevel", "warning"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait(self, path: str = "/ready", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"ingest not answering 200 on {path} after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 15)

    def log_tail(self) -> str:
        p = self.tmp / f"ingest-{self.port}.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


async def _read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            got = await consumer.getmany(timeout_ms=500)
            for recs in got.values():
                out.extend(recs)
        return out
    finally:
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record now on `topic` (all partitions, oldest first per partition)."""
    return asyncio.run(_read_all(bootstrap, topic))
