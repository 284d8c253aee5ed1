"""The run's child processes (worker, notifier), the producer thread, and offset sampling."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.dev.produce import key_of
from streams.dev.stack import stop_child
from streams.kafka import PartitionLag, try_group_lag

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    """A `pulse` subprocess we may kill -9; any other exit is a crash."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[dict[str, Any]] = field(default_factory=list)
    starts: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", *self.args], env=self.env,
                                     cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.starts += 1

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def check(self) -> bool:
        """True if it runs; a process that exited by itself is recorded as a crash and restarted."""
        if self.proc is None or self.proc.poll() is None:
            return True
        tail = self.log.read_text(errors="replace")[-1500:]
        self.crashes.append({"process": self.name, "returncode": self.proc.returncode, "log_tail": tail})
        self.start()
        return False

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 20)
        return None if self.proc is None else self.proc.returncode


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(port: int, timeout: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ready(port):
            return round(time.monotonic() - t0, 2)
        time.sleep(0.1)
    return None


class Producer(threading.Thread):
    """Sends the events file in chunks, keyed as `pulse produce` keys them, staying at most `lead`
    records ahead of the worker (so the faults hit while both run). A chunk that fails (the broker
    was killed) is sent again whole: records may then be in the log twice, which is why the
    verdict replays the log as it is, not the file."""

    def __init__(self, lines: list[bytes], bootstrap: str, topic: str, lead: int,
                 progress: Any, chunk: int = 2000) -> None:
        super().__init__(name="chaos-producer", daemon=True)
        self.lines, self.bootstrap, self.topic = lines, bootstrap, topic
        self.lead, self.progress, self.chunk = lead, progress, chunk
        self.sent = 0
        self.resent_chunks = 0
        self.error: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as exc:  # reported in the verdict
            self.error = repr(exc)
        finally:
            self.done.set()

    async def _start(self) -> AIOKafkaProducer:
        while True:
            p = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20,
                                 max_batch_size=512 * 1024, request_timeout_ms=15000)
            try:
                await p.start()
                return p
            except Exception:
                await p.stop()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        producer = await self._start()
        i = 0
        try:
            while i < len(self.lines):
                while i - self.progress() > self.lead:
                    await asyncio.sleep(0.2)
                part = self.lines[i:i + self.chunk]
                try:
                    futs = [await producer.send(self.topic, v, key=key_of(v)) for v in part]
                    await asyncio.gather(*futs)
                except Exception:
                    self.resent_chunks += 1
                    await producer.stop()
                    await asyncio.sleep(1.0)
                    producer = await self._start()
                    continue
                i += len(part)
                self.sent = i
        finally:
            await producer.stop()


def sample_offsets(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag] | None:
    try:
        return asyncio.run(asyncio.wait_for(try_group_lag(bootstrap, group, topics), 10))
    except Exception:  # the broker is down or restarting
        return None


async def read_topic(bootstrap: str, topic: str,
                     isolation_level: str = "read_uncommitted") -> list[tuple[int, int, bytes]]:
    """Every record of `topic` as (partition, offset, value), up to the end offsets read at the start
    (`read_committed`: only committed transactions' records; the end is then the last stable offset)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=16 << 20,
                         max_partition_fetch_bytes=8 << 20, isolation_level=isolation_level)
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or
                                                          await _partitions(c, topic))]
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        ends = await c.end_offsets(parts)
        out: list[tuple[int, int, bytes]] = []
        todo = {tp for tp in parts if ends[tp] > 0}
        while todo:
            batches = await c.getmany(*todo, timeout_ms=1000, max_records=20000)
            for tp, recs in batches.items():
                out += [(tp.partition, r.offset, r.value or b"") for r in recs if r.offset < ends[tp]]
            for tp in list(todo):  # by position: a transaction's marker takes an offset, no record
                if await c.position(tp) >= ends[tp]:
                    todo.discard(tp)
        return out
    finally:
        await c.stop()


async def _partitions(c: AIOKafkaConsumer, topic: str) -> set[int]:
    await c.topics()
    return c.partitions_for_topic(topic) or {0}


def env_for(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update(base)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
