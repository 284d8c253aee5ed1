"""Notifier errors. Every one says whether trying again later can help.

    PulseError                         (scoring.errors)
    └── PulseRuntimeError              (streams.errors)
        └── DeliveryError              a channel could not deliver; `.retryable`, `.retry_after`
            ├── RetryableDeliveryError timeouts, connection errors, 5xx, 429 (honours Retry-After)
            └── PermanentDeliveryError 4xx other than 408/429, a bad address, a refused target
                └── RefusedTargetError the SSRF guard refused the destination (not allow-listed)
    ConfigError                        (scoring.errors) a notifier TOML file is wrong: file, key, why
"""

from __future__ import annotations

from streams.errors import PulseRuntimeError


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


class MalformedAlertError(PulseRuntimeError):
    """A record on the `alerts` topic (or a delivery stream entry) is not a valid alert.

    Never fatal: the router logs it, counts it and puts it on the dead-letter stream."""
