"""The Faust app: topics -> agents -> tables -> sinks.

    events (raw, by user) --resolve--> scored (by account) --score--> alerts
          \\--> events-dlq (invalid input)        \\--> account-state table (RocksDB + changelog)

`resolve` (per user) parses and validates each record with the pure core, applies `group`
calls to the user -> account table, and forwards scored events keyed by account; `score` (per
account partition) folds them into that partition's `PartitionState` and emits band changes.
Both agents work in batches (`take_events`) and have concurrency 1 (faust-streaming #606).
Delivery is at-least-once with idempotent effects: a batch's outputs are acknowledged by the
broker before its source offsets can be committed (see `streams.worker.agents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faust

from scoring.model import Model
from streams.settings import Settings
from streams.topics import TopicNames


@dataclass(frozen=True)
class WorkerConfig:
    settings: Settings
    model: Model
    partitions: int = 1
    sweep_seconds: int = 86400
    live: bool = False
    live_interval: float = 5.0
    batch_size: int = 5000
    batch_within: float = 0.25
    web_port: int = 6066
    data_dir: Path = Path(".pulse/data")


def build_app(cfg: WorkerConfig) -> faust.App:
    s = cfg.settings
    datadir = cfg.data_dir / f"{s.topic_prefix}worker"  # one RocksDB folder per app id
    datadir.mkdir(parents=True, exist_ok=True)
    from streams.worker import transport

    transport.register()  # the aiokafka transport with Pulse's drain loop (streams/worker/transport.py)
    brokers = ";".join(f"{transport.SCHEME}://{b.strip()}" for b in s.bootstrap.split(","))
    app = faust.App(
        f"{s.topic_prefix}worker",
        broker=brokers,
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=cfg.partitions,
        topic_allow_declare=True,
        topic_disable_leader=True,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=20,
        producer_max_batch_size=512 * 1024,
        producer_acks=-1,
        broker_commit_every=20_000,
        broker_commit_interval=1.0,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=20_000,
        web_port=cfg.web_port,
        web_host="127.0.0.1",
        web_bind=s.web_bind,
        table_cleanup_interval=3600.0,
        key_serializer="raw",
        value_serializer="raw",
    )
    names = TopicNames.from_settings(s)
    topics = {
        "events": app.topic(names.events, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=cfg.partitions),
        "scored": app.topic(names.scored, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=cfg.partitions, internal=True),
    }
    users = app.Table("user-accounts", key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    states = app.Table("account-state", key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    from streams.worker.agents import register_agents

    register_agents(app, cfg, names, topics, users, states)
    from streams.worker.web import register_web

    register_web(app, s.bootstrap, [names.events, names.scored], lag_interval=s.lag_interval,
                 lag_samples=s.lag_samples, lag_allowed=s.lag_allowed)
    return app
