"""The worker's configuration and its Faust app: topics, tables, settings; no agents.

    events (raw, by user) --resolve--> scored (by account) --score--> alerts
          \\--> events-dlq (invalid input)        \\--> account-state table (RocksDB + changelog)

`create_app` builds the `faust.App` and `declare` its topics and tables (`Topology`);
`streams.worker.agents` registers the two agents onto them and `streams.worker.main` wires
the whole worker (app, agents, steps, web views, metrics). Nothing here starts anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from mode.utils.objects import cached_property

from scoring.model import Model
from streams.kafka import hide_sasl_bytes, ssl_context
from streams.settings import Settings
from streams.topics import ACCOUNT_STATE_TABLE, USER_ACCOUNTS_TABLE, TopicNames
from streams.worker.flowcontrol import KeepCurrentFlowControl


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """What one worker runs with. Build it with `WorkerConfig.from_settings`: the fields
    without a default here come from `Settings` (partitions, sweep, web port, data dir)."""

    settings: Settings
    model: Model
    partitions: int
    sweep_seconds: int
    web_port: int
    data_dir: Path
    live: bool = False  # also sweep on wall-clock ticks (`pulse worker --live`)
    live_interval: float = 5.0
    batch_size: int = 5000  # take_events: at most this many records ...
    # ... or what arrived within this many seconds. Faust's take_events waits this long for a
    # batch that is not full, whatever it holds; a `scored` batch (records of up to
    # `scored_chunk` items) is never full, so this is a floor on every hop's latency
    # (docs/benchmarks.md, "Where the worker waited").
    batch_within: float = 0.01
    # `events` arrives coalesced (streams/worker/transport.py): one Faust message per partition
    # per fetch, up to broker_max_poll_records (5000) records each, and a few dozen records when
    # the worker keeps up with a steady stream
    events_batch: int = 16  # resolve takes at most this many such messages per batch
    events_buffer: int = 32  # and the events stream buffers at most this many
    scored_chunk: int = 1000  # items per `scored` record (a record stays well under 1 MB)

    @classmethod
    def from_settings(cls, settings: Settings, model: Model, **overrides: Any) -> WorkerConfig:
        """The settings' values, with `overrides` (field=value; a None value means the setting)."""
        fields: dict[str, Any] = {"partitions": settings.partitions, "sweep_seconds": settings.sweep_seconds,
                                  "web_port": settings.web_port, "data_dir": settings.data_dir}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(settings=settings, model=model, **fields)

    @property
    def names(self) -> TopicNames:
        return TopicNames.from_settings(self.settings)


@dataclass(frozen=True)
class Topology:
    """The Faust topics and tables of the worker (raw bytes everywhere)."""

    events: Any  # faust.TopicT: raw events, keyed by user
    scored: Any  # faust.TopicT, internal: scored items, keyed by account
    users: Any  # faust.Table: user -> account
    states: Any  # faust.Table: account -> state, plus one meta row per partition


def faust_auth(s: Settings) -> dict[str, Any]:
    """Faust's `broker_credentials` / `ssl_context` from the same settings as every other Kafka client
    of Pulse (`streams.kafka.kafka_auth`): Faust hands them to its aiokafka consumer, producer and the
    client that declares topics (faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth)."""
    proto = s.kafka_security_protocol
    if proto == "PLAINTEXT":
        return {}
    context = ssl_context(s) if proto in ("SSL", "SASL_SSL") else None
    if proto == "SSL":
        return {"ssl_context": context}
    assert s.kafka_sasl_password is not None  # Settings checked it
    hide_sasl_bytes()
    creds = faust.SASLCredentials(username=s.kafka_sasl_username,
                                  password=s.kafka_sasl_password.get_secret_value(),
                                  ssl_context=context, mechanism=s.kafka_sasl_mechanism)
    return {"broker_credentials": creds}


class WorkerApp(faust.App):
    """`faust.App` with Pulse's flow control (streams/worker/flowcontrol.py); nothing else differs."""

    @cached_property
    def flow_control(self) -> Any:  # stock: FlowControlEvent(loop=self.loop)
        return KeepCurrentFlowControl(self, loop=self.loop)


def create_app(cfg: WorkerConfig) -> faust.App:
    """The Faust app of the worker (its id is `TopicNames.worker_app`), not started."""
    s, names = cfg.settings, cfg.names
    datadir = cfg.data_dir / names.worker_app  # one RocksDB folder per app id
    datadir.mkdir(parents=True, exist_ok=True)
    from streams.worker import transport

    transport.register()  # the aiokafka transport with Pulse's drain loop (streams/worker/transport.py)
    brokers = ";".join(f"{transport.SCHEME}://{b.strip()}" for b in s.bootstrap.split(","))
    return WorkerApp(
        names.worker_app,
        broker=brokers,
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=cfg.partitions,
        topic_allow_declare=True,
        topic_disable_leader=True,
        processing_guarantee=s.worker_processing_guarantee,
        consumer_auto_offset_reset="earliest",
        # the agents await their sends right after making them (streams/worker/agents.py), so a
        # linger is pure waiting; a batch's sends are all queued before that first await, so
        # they still share produce requests
        producer_linger_ms=0,
        producer_max_batch_size=512 * 1024,
        producer_acks=-1,
        broker_commit_every=20_000,
        broker_commit_interval=1.0,
        broker_session_timeout=s.worker_session_timeout,
        broker_heartbeat_interval=s.worker_heartbeat_interval,
        consumer_group_instance_id=s.worker_instance_id,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=20_000,
        web_port=cfg.web_port,
        web_host="127.0.0.1",
        web_bind=s.web_bind,
        table_cleanup_interval=3600.0,
        key_serializer="raw",
        value_serializer="raw",
        **faust_auth(s),
    )


def declare(app: faust.App, cfg: WorkerConfig) -> Topology:
    """Declare the worker's topics and tables on `app`."""
    names, n = cfg.names, cfg.partitions
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw", "partitions": n}
    return Topology(
        events=app.topic(names.events, maxsize=cfg.events_buffer, **raw),
        scored=app.topic(names.scored, internal=True, **raw),
        users=app.Table(USER_ACCOUNTS_TABLE, key_type=bytes, value_type=bytes, partitions=n),
        states=app.Table(ACCOUNT_STATE_TABLE, key_type=bytes, value_type=bytes, partitions=n),
    )
