"""The trend of a score: what it was `trend_days` days earlier, kept compactly (no events stored).

The rule: docs/semantics.md#explanation.

`Trend` is a small ring of daily snapshots `[day, value]` (`day` = floor(clock / 86400 s)):
each evaluation of the score records its value for the day of the evaluation's clock (a later
evaluation on the same day overwrites it), so each entry is the score as the account's last
evaluation of that day left it.

`ago(day)` is "the score `trend_days` days earlier": the value of the latest snapshot whose day
is <= day - trend_days, i.e. the score as it stood at the end of that day; None when the account
has no evaluation that old. The ring keeps the snapshots after that horizon and the one latest
before it, so it never holds more than trend_days + 1 entries.

Evaluations of one account happen at non-decreasing clocks (the account clock only moves
forward), so snapshots are appended in day order.

Snapshots are taken at evaluations, sweeps included, so like sweep-driven band changes they
follow the sweep order: a 1-partition worker and `pulse replay` record the same rings; with
several partitions (each sweeping on its own stream clock) an event that arrives after a
sweep point in one order and before it in the other can be recorded on a neighbouring day.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

DAY_US = 86400 * 1_000_000


@dataclass(slots=True)
class Trend:
    days: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def record(self, day: int, value: float, trend_days: int) -> None:
        days, values = self.days, self.values
        if days and days[-1] == day:
            values[-1] = value
        else:
            days.append(day)
            values.append(value)
        horizon = day - trend_days
        while len(days) >= 2 and days[1] <= horizon:
            del days[0]
            del values[0]

    def ago(self, day: int, trend_days: int) -> float | None:
        """The latest snapshot at or before `day - trend_days`, or None."""
        i = bisect_right(self.days, day - trend_days)
        return self.values[i - 1] if i else None

    def dump(self) -> list[list[float]]:
        return [[d, v] for d, v in zip(self.days, self.values, strict=True)]

    @classmethod
    def load(cls, data: list[list[float]]) -> Trend:
        return cls([int(d) for d, _ in data], [float(v) for _, v in data])
