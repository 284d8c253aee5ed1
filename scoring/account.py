"""One account's scoring state: clock, band, score state and dedup memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.decay import DecayState
from scoring.dedup import MessageMemory
from scoring.window import WindowState

ScoreState = WindowState | DecayState


@dataclass(slots=True)
class Account:
    """State of one known account (one with at least one accepted event).

    `clock` is the largest accepted event time. The sweep advances clocks
    lazily: the account's clock as DESIGN.md defines it is
    `max(clock, last sweep point)` when the account existed at that sweep
    (`since_sweep` < the scorer's sweep count), else `clock`.
    """

    clock: int
    since_sweep: int
    band: int | None
    state: ScoreState
    seen: MessageMemory

    def dump(self) -> list[Any]:
        kind = "w" if isinstance(self.state, WindowState) else "d"
        return [self.clock, self.since_sweep, self.band, kind, self.state.dump(), self.seen.dump()]

    @classmethod
    def load(cls, data: list[Any]) -> Account:
        clock, since, band, kind, state, seen = data
        st: ScoreState = WindowState.load(state) if kind == "w" else DecayState.load(state)
        return cls(clock, since, band, st, MessageMemory.load(seen))
