"""`Change`: one band evaluation that set or changed a band, or a signal (scoring/signals.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from scoring.timefmt import format_us

Cause = Literal["event", "sweep", "end"]


class Kind(StrEnum):
    """Which score a change (and its alert) is about."""

    ENGAGEMENT = "engagement"
    HEALTH = "health"


@dataclass(frozen=True, slots=True)
class Change:
    """A band evaluation that set or changed an account's band (`reason` None), or a signal.

    `kind` is the score (a `Kind` value: "engagement" or "health"); `reason` names a signal (a
    `scoring.signals.Reason`) or is None for a band change; `explain` is the alert's explanation
    (trend, top events, health components), present when the model keeps that state
    (`[explain]` / `[health]`).
    """

    account: str
    from_band: str | None
    to_band: str
    score: float
    at_us: int
    cause: Cause
    kind: str = "engagement"
    reason: str | None = None
    explain: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def to_json_dict(self) -> dict[str, Any]:
        """The `changes.jsonl` line (also `health_changes.jsonl`)."""
        return {"account": self.account, "from": self.from_band, "to": self.to_band,
                "score": self.score, "at": format_us(self.at_us)}
