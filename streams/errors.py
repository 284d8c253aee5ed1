"""Runtime errors (stack, Kafka, Redis, delivery). All derive from `scoring.errors.PulseError`.

    PulseError                      (scoring.errors)
    ├── ConfigError / ModelError    (scoring.errors) a file or setting is wrong
    ├── EventError                  (scoring.errors) one input event is rejected
    └── PulseRuntimeError           something outside Pulse's data went wrong
        ├── StackError              the local Kafka/Redis stack cannot start or answer
        └── DeliveryError           a notifier could not deliver (see streams.notify.errors)
"""

from __future__ import annotations

from scoring.errors import PulseError


class PulseRuntimeError(PulseError):
    """Something outside Pulse's own data went wrong."""


class StackError(PulseRuntimeError):
    """The local stack cannot be started or does not answer. The message says what to do."""
