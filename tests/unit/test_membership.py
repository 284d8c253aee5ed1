"""The worker's consumer-group membership settings reach the Kafka consumer Faust builds
(docs/operations.md "Crash recovery"): a Faust upgrade that stops passing them fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from faust.transport.drivers import aiokafka as faust_aiokafka

from scoring.model import load_model
from streams.settings import Settings
from streams.worker.app import WorkerConfig, create_app


def test_settings_reach_the_faust_app(tmp_path: Path) -> None:
    s = Settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="m.", worker_instance_id="pulse-worker-3",
                 worker_session_timeout=10, worker_heartbeat_interval=1)
    app = create_app(WorkerConfig.from_settings(s, load_model(None), data_dir=tmp_path))
    assert app.conf.consumer_group_instance_id == "pulse-worker-3"
    assert app.conf.broker_session_timeout == 10 and app.conf.broker_heartbeat_interval == 1
    default = create_app(WorkerConfig.from_settings(Settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="d."),
                                                   load_model(None), data_dir=tmp_path))
    assert default.conf.consumer_group_instance_id is None  # dynamic membership unless configured
    assert default.conf.broker_session_timeout == 60


def test_faust_passes_them_to_the_aiokafka_consumer() -> None:
    src = re.sub(r"\s+", "", inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer))
    for passed in ("group_instance_id=conf.consumer_group_instance_id",
                   "session_timeout_ms=int(session_timeout*1000.0)",
                   "heartbeat_interval_ms=int(conf.broker_heartbeat_interval*1000.0)"):
        assert passed in src, passed
