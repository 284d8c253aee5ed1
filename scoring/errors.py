"""Pulse's typed errors. Every error Pulse raises derives from `PulseError`.

    PulseError
    ├── ConfigError            a settings or model file is wrong (file, key, why)
    │   └── ModelError         the scoring model TOML is invalid
    ├── EventError             one input event is rejected (carries a reason code)
    └── PulseRuntimeError      defined in `streams.errors`: stack, Kafka, Redis, delivery
        └── ...                (notifier errors say whether they are retryable)
"""

from __future__ import annotations


class PulseError(Exception):
    """Root of every error Pulse raises on purpose."""


class ConfigError(PulseError):
    """A configuration file or setting is wrong. The message names file, key and why."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.key = key


class ModelError(ConfigError):
    """The scoring model TOML is invalid."""


class EventError(PulseError):
    """One event is invalid. `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
