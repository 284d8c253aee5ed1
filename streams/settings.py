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
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
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
    # Kafka client security (docs/operations.md "Security"): every Kafka client of Pulse (the worker's
    # Faust app, ingest, notifier, dashboard, lag, export, tail, the dev tools) connects with these
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ca_file: Path | None = None  # PEM CA that signed the broker's certificate (default: system CAs)
    # Redis credentials (an ACL user and/or the `requirepass` password), added to the Redis URL
    redis_username: str | None = None
    redis_password: SecretStr | None = None
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
    # the commit watchdog (streams/worker/commits.py): one warning when a partition's committed offset
    # has not moved for this long while records past it were delivered
    worker_commit_stall_seconds: float = Field(default=30.0, gt=0)
    # at_least_once (default): a crash may repeat alerts and dead letters (same ids); exactly_once:
    # every batch's outputs, table rows and source offsets are one Kafka transaction, so a
    # read_committed consumer sees each once (docs/faust.md "Exactly once", its cost in docs/benchmarks.md)
    worker_processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # the worker's cyclic garbage collector (docs/operations.md "Garbage collection"): every this many
    # seconds the objects alive are frozen (gc.freeze), so a full collection never walks the partition
    # state again (0: never freeze); `worker_gc_threshold`, e.g. PULSE_WORKER_GC_THRESHOLD='[700,10,10]',
    # replaces gc.set_threshold's values (default: Python's)
    worker_gc_freeze_seconds: float = Field(default=1.0, ge=0)
    worker_gc_thaw_seconds: float = Field(default=3600.0, ge=0)  # unfreeze + one full collection (0: never)
    worker_gc_threshold: tuple[int, int, int] | None = None

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
    dashboard_derive_share: float = Field(default=0.1, gt=0, le=1)  # of one core for deriving while the
    # worker writes (docs/dashboard.md; 1: no limit)
    dashboard_max_behind: int = Field(default=100_000, ge=0)  # accounts waiting above which the share
    # is not kept (the backlog's memory first)
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
    stack_secure: bool = False  # `pulse stack up --secure`: SASL_SSL Kafka + Redis with an ACL user

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(f"PULSE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "PULSE_KAFKA_SASL_USERNAME and PULSE_KAFKA_SASL_PASSWORD")
        if self.kafka_ca_file is not None and not self.kafka_ca_file.is_file():
            raise ValueError(f"PULSE_KAFKA_CA_FILE={self.kafka_ca_file}: no such file")
        return self

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis(self) -> str:
        """The Redis URL clients connect to, credentials included: never print it (`redis_address`)."""
        url = (self.redis_url.get_secret_value() if self.redis_url is not None
               else f"redis://127.0.0.1:{self.redis_port}/0")
        if self.redis_password is None and self.redis_username is None:
            return url
        parts = urlsplit(url)
        user = quote(self.redis_username or parts.username or "", safe="")
        password = (quote(self.redis_password.get_secret_value(), safe="") if self.redis_password is not None
                    else quote(parts.password or "", safe=""))
        host = parts.hostname or "127.0.0.1"
        netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def redis_address(self) -> str:
        """The Redis URL without its credentials (for messages and logs)."""
        return redact_url(self.redis)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def redact_url(url: str) -> str:
    """`url` with any user:password replaced by `***` (what messages may show of a Redis URL)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, "***@" + parts.netloc.rsplit("@", 1)[1], parts.path, parts.query,
                       parts.fragment))


def env_secret(name: str) -> SecretStr | None:
    """The value of the environment variable `name` (chosen by a config file), None if unset/empty."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process: this process's, with `overrides` set."""
    return {**os.environ, **overrides}
