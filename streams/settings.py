"""Runtime settings (pydantic-settings): the only reader of the process environment.

Environment variables win over defaults. `KAFKA_BOOTSTRAP` and `REDIS_URL` are read without
prefix (they are shared with other tools); everything else is `PULSE_*` (the field name in
upper case: `PULSE_PARTITIONS`, `PULSE_NOTIFIER_CONFIG`, ...). When `KAFKA_BOOTSTRAP` /
`REDIS_URL` are unset, the local stack's addresses are used (see `deploy/local`).

Two helpers cover what a settings class cannot declare: `env_secret` reads a variable whose
name a config file chooses (a notifier channel's `*_env` key), and `child_env` builds the
environment of a child process. The one exception outside this module is `scoring`'s
`PULSE_SCORING` switch (pure domain code may not import the runtime).

Command-line options that override a setting default to it: `None` means "the setting".
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_KAFKA_PORT = 19092
LOCAL_REDIS_PORT = 16379


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "PULSE_KAFKA_BOOTSTRAP")
    )
    # may carry a password (redis://:secret@host): kept out of reprs and logs
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "PULSE_REDIS_URL")
    )
    topic_prefix: str = "pulse."  # every topic and consumer group name (streams.topics.TopicNames)
    data_dir: Path = Path(".pulse/data")
    model: Path | None = None
    web_port: int = 6066
    web_bind: str = "127.0.0.1"  # PULSE_WEB_BIND=0.0.0.0 in containers (probes, Prometheus)
    partitions: int = Field(default=1, ge=1)
    sweep_seconds: int = Field(default=86400, ge=1)  # sweep period in event time (replay and worker)
    max_future_skew_seconds: float = 300.0
    lag_interval: float = 5.0  # the worker's lag monitor: seconds between broker polls
    lag_samples: int = 10  # ... and commits kept per partition (Burrow's window)
    lag_allowed: int = 0  # ... and lag up to which a partition is never in error (Burrow's allowed-lag)
    # consumer group membership of the worker (docs/operations.md "Crash recovery"): a dead member
    # holds its partitions until the broker has not heard from it for `worker_session_timeout` seconds;
    # a member with a `worker_instance_id` (KIP-345 static membership) gets them back at once when it
    # restarts with the same id
    worker_session_timeout: float = 60.0
    worker_heartbeat_interval: float = 3.0
    worker_instance_id: str | None = None

    # pulse ingest (streams/ingest): the Segment-compatible HTTP intake
    ingest_port: int = 8088
    ingest_bind: str = "127.0.0.1"  # PULSE_INGEST_BIND=0.0.0.0 in containers
    ingest_config: Path | None = None  # the write-key TOML file (required by `pulse ingest`)
    ingest_send_timeout_seconds: float = 10.0  # Kafka must acknowledge within this, else 503
    ingest_max_pending_bytes: int = 64 * 1024 * 1024  # sent, not yet acknowledged: above, 503
    ingest_max_in_flight: int = 512  # requests handled at once: above, 503
    ingest_retry_after_seconds: int = 5  # the Retry-After of a 503

    # `pulse dashboard` (docs/dashboard.md)
    dashboard_port: int = 6070
    dashboard_bind: str = "127.0.0.1"
    dashboard_history_days: int = 92  # days of daily points kept per account (>= 90 shown)
    dashboard_flush_seconds: float = 10.0  # how often changed history is published
    dashboard_owner_trait: str = "csm"  # the trait naming an account's CSM (at-risk filter)
    dashboard_redis_prefix: str = "pulse:"  # the notifier's Redis key prefix (delivery status)
    dashboard_derive_seconds: float = Field(default=2.0, ge=0)  # changelog records coalesced this long
    dashboard_nice: int = Field(default=10, ge=0, le=19)  # niceness added to `pulse dashboard` (yields
    # CPU to a worker on the same host; 0: none)

    # the notifier (`pulse notifier`, `pulse alerts dlq ...`)
    notifier_config: Path | None = None  # its TOML file
    notifier_port: int = 6067  # its /metrics port (0: off)

    # local stack (deploy/local), used when kafka_bootstrap / redis_url are unset
    stack_dir: Path = Path(".pulse")
    kafka_port: int = LOCAL_KAFKA_PORT
    kafka_controller_port: int = LOCAL_KAFKA_PORT + 1
    redis_port: int = LOCAL_REDIS_PORT
    maven_args: str = ""  # extra arguments for the Maven run that fetches Kafka's jars

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis(self) -> str:
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return f"redis://127.0.0.1:{self.redis_port}/0"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def env_secret(name: str) -> SecretStr | None:
    """The value of the environment variable `name` (chosen by a config file), None if unset/empty."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process: this process's, with `overrides` set."""
    return {**os.environ, **overrides}
