"""Movement this week and days in band, read from the daily history (bands per day).

Movement over `days` (7) days, per score kind: an account moved *into* red / at_risk when its band
at its latest history point at or before day D - 7 (D = the day of the data's clock) was another
band and its band now is red or at_risk, and *out* the other way round. Accounts with no point
that old (new ones) did not move. A point's band is the one the dashboard saw that day; for the
days seeded from the core's trend rings (scores only) it is the score's band without hysteresis.

The counts are kept up to date: `update(i)` (called on every upsert) re-reads one account's band
then and now; `refresh()` (before a read) re-reads every account when D has moved since, or when
history was merged from the topic (`ReadModel.history_epoch`), so a full pass runs once per day of
data, not per request.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Any

from scoring.bands import BAND_NAMES, Edges, base_band
from scoring.trend import DAY_US
from streams.dashboard.model import ReadModel

KINDS = ("engagement", "health")
RISK = frozenset(BAND_NAMES.index(b) for b in ("red", "at_risk"))


class Movement:
    def __init__(self, rm: ReadModel, edges: Edges, days: int = 7) -> None:
        self.rm, self.edges, self.days = rm, edges, days
        self.ref_day: int | None = None
        self.epoch = -1
        self.then = {k: array("b") for k in KINDS}
        self.into: dict[str, set[int]] = {k: set() for k in KINDS}
        self.out: dict[str, set[int]] = {k: set() for k in KINDS}

    def band_of(self, band: int | None, score: float | None) -> int:
        if band is not None:
            return band
        return -1 if score is None else base_band(score, self.edges)

    def _then(self, i: int, kind: str) -> int:
        assert self.ref_day is not None
        p = self.rm.history.latest_at(i, self.ref_day)
        if p is None:
            return -1
        _, e, eb, h, hb = p
        return self.band_of(eb, e) if kind == "engagement" else self.band_of(hb, h)

    def _place(self, i: int) -> None:
        rm = self.rm
        for kind in KINDS:
            col = self.then[kind]
            if i >= len(col):
                col.extend(array("b", [-1]) * (len(rm) - len(col)))
            was = col[i] = self._then(i, kind)
            now = rm.band[i] if kind == "engagement" else rm.hband[i]
            self.into[kind].discard(i)
            self.out[kind].discard(i)
            if was < 0 or now < 0:
                continue
            if now in RISK and was not in RISK:
                self.into[kind].add(i)
            elif was in RISK and now not in RISK:
                self.out[kind].add(i)

    def update(self, i: int) -> None:
        if self.ref_day is not None:
            self._place(i)

    def refresh(self) -> None:
        rm = self.rm
        ref = rm.clock_max // DAY_US - self.days
        if ref == self.ref_day and rm.history_epoch == self.epoch:
            return
        self.ref_day, self.epoch = ref, rm.history_epoch
        for kind in KINDS:
            self.then[kind] = array("b", [-1]) * len(rm)
            self.into[kind].clear()
            self.out[kind].clear()
        for i in range(len(rm)):
            if rm.band[i] >= 0:
                self._place(i)

    def summary(self, kind: str, show: int = 50) -> dict[str, Any]:
        self.refresh()
        ids = self.rm.ids
        return {"into_risk": len(self.into[kind]), "out_of_risk": len(self.out[kind]), "days": self.days,
                "into_accounts": heapq.nsmallest(show, (ids[i] for i in self.into[kind])),
                "out_accounts": heapq.nsmallest(show, (ids[i] for i in self.out[kind]))}

    def days_in_band(self, i: int, kind: str = "engagement") -> int | None:
        """Days since the first history point of the account's current run in its band (the
        points after the last one in another band); None without a point in its band."""
        rm = self.rm
        now = rm.band[i] if kind == "engagement" else rm.hband[i]
        since = None
        for day, e, h, eb, hb in reversed(rm.history.points(i)):
            b = self.band_of(eb, e) if kind == "engagement" else self.band_of(hb, h)
            if b < 0:
                continue
            if b != now:
                break
            since = day
        return None if since is None or now < 0 else int(rm.clock[i] // DAY_US - since)
