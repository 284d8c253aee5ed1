"""Run the real worker as a subprocess against the real broker, and the pure core beside it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scoring.engine import Change
from scoring.feed import Feed
from scoring.model import Model
from streams.cli.tail import tail
from streams.contracts.alert import Alert
from streams.dev.produce import produce_file
from streams.dev.stack import free_port, stop_child
from streams.kafka import wait_caught_up
from streams.offline.export import export_scores
from streams.settings import Settings
from streams.topics import TopicNames, create_topics
from streams.worker.records import alert_from_change


@dataclass
class Pipeline:
    """One isolated pipeline: its own topic prefix, data dir and web port."""

    bootstrap: str
    tmp: Path
    partitions: int = 1
    model_path: Path | None = None
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    web_port: int = field(default_factory=free_port)  # the worker's /metrics, /healthz, /ready
    proc: subprocess.Popen[bytes] | None = None
    guarantee: str = "at_least_once"  # PULSE_WORKER_PROCESSING_GUARANTEE


    @property
    def settings(self) -> Settings:
        return Settings(kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix,
                        data_dir=self.tmp / "data")

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    def env(self) -> dict[str, str]:
        return {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap, "PULSE_TOPIC_PREFIX": self.prefix,
                "PULSE_DATA_DIR": str(self.tmp / "data"), "PULSE_WORKER_PROCESSING_GUARANTEE": self.guarantee}

    def start(self) -> None:
        create_topics(self.settings, self.partitions)  # before anything is produced
        args = [sys.executable, "-m", "streams.cli", "worker", "--partitions", str(self.partitions),
                "--web-port", str(self.web_port), "--loglevel", "warning"]
        if self.model_path:
            args += ["--model", str(self.model_path)]
        log = (self.tmp / "worker.log").open("ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 10)

    def produce(self, path: Path) -> int:
        create_topics(self.settings, self.partitions)
        return asyncio.run(produce_file(path, self.bootstrap, self.names.events))

    def wait_caught_up(self, timeout: float = 240.0, settle: float = 1.5) -> None:
        names = self.names
        assert self.proc is not None and self.proc.poll() is None, self.log_tail()
        asyncio.run(wait_caught_up(self.bootstrap, names.worker_app,
                                   [names.events, names.scored], timeout=timeout, settle=settle))

    def alerts(self, isolation_level: str = "read_uncommitted") -> list[dict[str, Any]]:
        """The alerts on the topic as JSON objects, repeats included; each one is checked against
        the alert contract on the way: it parses, and re-serializes to the very bytes the worker wrote."""
        got: list[bytes] = []
        asyncio.run(tail(self.bootstrap, self.names.alerts, from_beginning=True, idle_exit=3.0,
                         emit=got.append, dedupe=False, isolation_level=isolation_level))
        for v in got:
            assert Alert.parse(v).to_json() == v, v
        return [orjson.loads(v) for v in got]

    def dead_letters(self, isolation_level: str = "read_uncommitted") -> list[dict[str, Any]]:
        got: list[bytes] = []
        asyncio.run(tail(self.bootstrap, self.names.dlq, from_beginning=True, idle_exit=3.0,
                         emit=got.append, dedupe=False, isolation_level=isolation_level))
        return [orjson.loads(v) for v in got]

    def export(self, model: Model) -> list[dict[str, Any]]:
        out = self.tmp / f"scores-{uuid.uuid4().hex[:6]}.jsonl"
        asyncio.run(export_scores(self.settings, model, self.settings.sweep_seconds, out))
        return [orjson.loads(x) for x in out.read_bytes().splitlines()]

    def log_tail(self) -> str:
        p = self.tmp / "worker.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


def core_run(path: Path, model: Model, now_us: int | None = None
             ) -> tuple[list[dict[str, Any]], list[Change], list[Change]]:
    """The pure core over a file, as replay runs it: final scores, all changes, end-advance changes.
    `now_us`: the future-skew rule's instant (None: no check)."""
    feed, changes = Feed(model, now_us=now_us), list[Change]()
    for line in path.read_bytes().splitlines():
        line = line.strip()
        if line:
            feed.feed(line, changes)
    scorer = feed.scorer
    end = scorer.finish()
    scores = [{"account": a, "score": s, "band": b} for a, s, b in scorer.scores()]
    return scores, changes, end


def expected_alerts(changes: list[Change]) -> list[dict[str, Any]]:
    """The alerts replay's changes make, as the JSON objects the worker writes."""
    return [alert_from_change(c).to_dict() for c in changes if c.from_band is not None]


def per_account(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(r["account"], []).append(tuple(
            round(r[k], 9) if isinstance(r[k], float) else r[k] for k in keys))
    return out
