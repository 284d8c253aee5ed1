"""Pulse's one error tree. Every error Pulse raises on purpose is a `PulseError`.

It lives at the bottom of the import graph (`scoring/` imports nothing of the runtime) so that
both the pure core and every service raise from the same tree:

    PulseError
    ├── ConfigError                    a settings, model or service TOML is wrong: file, key, why
    │   └── ModelError                 the scoring model TOML is invalid
    └── PulseRuntimeError              something outside Pulse's own data went wrong
        ├── StackError                 the local Kafka/Redis stack cannot start or answer
        ├── MalformedAlertError        a record on `alerts` (or a delivery entry) is not an alert
        └── DeliveryError              a channel could not deliver; `.retryable`, `.retry_after`
            ├── RetryableDeliveryError timeouts, connection errors, 5xx, 408, 429 (Retry-After)
            └── PermanentDeliveryError 4xx other than 408/429, a bad address, a refused target
                └── RefusedTargetError the SSRF guard refused the destination

A rejected input event is not an exception: `scoring.events.parse_message` returns a `Rejected`
item with a reason code (see docs/semantics.md), so one bad event never stops a batch.
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


class PulseRuntimeError(PulseError):
    """Something outside Pulse's own data went wrong."""


class StackError(PulseRuntimeError):
    """The local stack cannot be started or does not answer. The message says what to do."""


class MalformedAlertError(PulseRuntimeError):
    """A record on the `alerts` topic (or a delivery stream entry) is not a valid alert
    (`streams.contracts.alert.Alert.parse`).

    `field` names the offending field ("top_events[2].count", "explain.tickets", ...) or is None
    when the record is not a JSON object at all. Never fatal: the router logs it, counts it and
    puts it on the dead-letter stream."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DeliveryError(PulseRuntimeError):
    """A channel could not deliver one alert. `retryable` says whether a later attempt can help;
    `retry_after` (seconds) is the receiver's own hint (HTTP `Retry-After`), if it gave one."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RetryableDeliveryError(DeliveryError):
    """Worth another attempt: a timeout, a connection error, a 5xx, a 408 or a 429."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """Another attempt would fail the same way: a 4xx, a rejected recipient, a bad URL."""

    retryable = False


class RefusedTargetError(PermanentDeliveryError):
    """The SSRF guard refused the destination address (loopback, private, link-local, metadata)."""
