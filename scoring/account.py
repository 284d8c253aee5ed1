"""One account's scoring state: clock, band, score state and dedup memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoring.decay import DecayState
from scoring.dedup import MessageMemory
from scoring.insight import Extra
from scoring.window import WindowState

ScoreState = WindowState | DecayState


@dataclass(slots=True)
class Account:
    """State of one known account (one with at least one accepted event).

    `clock` is the largest accepted event time. The sweep advances clocks
    lazily: the account's clock as docs/semantics.md#late-events defines it is
    `max(clock, last sweep point)` when the account existed at that sweep
    (`since_sweep` < the scorer's sweep count), else `clock`.
    """

    clock: int
    since_sweep: int
    band: int | None
    state: ScoreState
    seen: MessageMemory
    extra: Extra | None = None  # trend / explanation / health state (scoring/insight.py)
    dirty: bool = False  # changed since the scorer's last `take_dirty()` (not part of the dump)
    due: int | None = None  # the sweep point the scorer's calendar holds it for (not dumped)

    def dump(self, forget_before: int | None = None) -> list[Any]:
        """[clock, since_sweep, band, kind, state, seen] (+ [extra] when the model keeps it);
        messageIds recorded before `forget_before` are left out (`MessageMemory.dump`)."""
        kind = "w" if isinstance(self.state, WindowState) else "d"
        out = [self.clock, self.since_sweep, self.band, kind, self.state.dump(),
               self.seen.dump(forget_before)]
        if self.extra is not None:
            out.append(self.extra.dump())
        return out

    @classmethod
    def load(cls, data: list[Any], new_extra: Callable[[], Extra] | None = None) -> Account:
        """Load a dump; `new_extra` gives fresh extra state to a dump made without it (an
        account saved before the model had `[explain]`/`[health]`)."""
        clock, since, band, kind, state, seen = data[:6]
        st: ScoreState = WindowState.load(state) if kind == "w" else DecayState.load(state)
        extra = None
        if new_extra is not None:
            extra = Extra.load(data[6]) if len(data) > 6 else new_extra()
        return cls(clock, since, band, st, MessageMemory.load(seen), extra)
