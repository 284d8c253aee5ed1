"""What lifted each account's engagement score on each of the last days, to name the events it
has lost since `trend_days` (7) days ago.

`Contributions` keeps, per account, a ring of `days` (trend_days + 1 = 8) days ending at the
account's own latest day (its clock's day when the dashboard last read it; accounts lag each
other, e.g. on partitions with different clocks). Each slot holds the `K` (3) events with the most
positive points (weight x count in the window) at the account's latest point at or before that
day, as (event id, count) pairs in `array('H')` columns: 12 bytes per account per day, 96 B at 8
days, plus its latest day (4 B). Event names are interned (id 0 = none; they are the model's
weighted events, so their number is bounded by the model). Days are filled forward: moving an
account to a later day copies its last value into the days in between, and a late point
overwrites its day and the following days that still held the value it replaces. So
`at(i, day)` is the account's last known point at or before `day`, the same "as it stood at the
end of that day" rule as the core's trend rings.

Counts are kept rather than points so that points then = weight x count then, exactly; a count
is capped at 65,535.

`tail(i)` / `load_tail(i, raw)` carry an account's days in its history record
(`streams.dashboard.history`), so the comparison survives restarts: orjson
`[[day, [[event, count], ...]], ...]`, a day listed only when it differs from the day before,
and the last day.
"""

from __future__ import annotations

from array import array
from typing import Any

import orjson

K = 3
NO_DAY = -(2**31)
_CAP = 0xFFFF
_CHUNK = 4096
Top = list[tuple[str, int]]
Value = tuple[tuple[int, ...], tuple[int, ...]]  # (event ids, counts) of one account on one day


def top_lifts(counts: dict[str, int], weights: dict[str, float], k: int = K) -> Top:
    """The `k` events with the most positive points (weight x count), then by name."""
    rows = [(n, c) for n, c in counts.items() if c > 0 and weights.get(n, 0.0) > 0]
    rows.sort(key=lambda r: (-weights[r[0]] * r[1], r[0]))
    return rows[:k]


def lost_since(then: Top, now: dict[str, int], weights: dict[str, float]) -> list[tuple[str, int, int]]:
    """Events that lifted the score `then` and lift it less `now`: (event, count then, count now)."""
    return [(name, c_then, now.get(name, 0)) for name, c_then in then
            if weights.get(name, 0.0) > 0 and now.get(name, 0) < c_then]


def as_points(lost: list[tuple[str, int, int]], weights: dict[str, float]) -> list[dict[str, Any]]:
    """`lost_since`'s rows with points (weight x count) then and now."""
    return [{"event": n, "points_then": weights.get(n, 0.0) * a, "points_now": weights.get(n, 0.0) * b}
            for n, a, b in lost]


class Contributions:
    def __init__(self, days: int = 8) -> None:
        if days < 2:
            raise ValueError("need at least 2 days")
        self.days = days
        self._last = array("i")  # per account: its latest day (NO_DAY: none)
        self._ids = [[array("H") for _ in range(K)] for _ in range(days)]  # [slot][k][account]
        self._counts = [[array("H") for _ in range(K)] for _ in range(days)]
        self.names: list[str] = [""]
        self._name_ids: dict[str, int] = {}

    def nid(self, name: str) -> int:
        nid = self._name_ids.get(name)
        if nid is None:
            if len(self.names) > _CAP:
                return 0
            nid = self._name_ids[name] = len(self.names)
            self.names.append(name)
        return nid

    def last_day(self, i: int) -> int | None:
        d = self._last[i] if i < len(self._last) else NO_DAY
        return None if d == NO_DAY else d

    def _get(self, s: int, i: int) -> Value:
        ids, counts = self._ids[s], self._counts[s]
        return (tuple(a[i] if i < len(a) else 0 for a in ids),
                tuple(a[i] if i < len(a) else 0 for a in counts))

    def _set(self, s: int, i: int, value: Value) -> None:
        for cols, vals in ((self._ids[s], value[0]), (self._counts[s], value[1])):
            for a, v in zip(cols, vals, strict=True):
                if i >= len(a):
                    a.extend(array("H", [0]) * max(_CHUNK, i + 1 - len(a)))
                a[i] = v

    def record(self, i: int, day: int, top: Top) -> None:
        """Account `i`'s point of `day` (filled forward); a day more than `days` before the
        account's latest day is ignored."""
        items = top[:K]
        ids = tuple(self.nid(n) for n, _ in items) + (0,) * (K - len(items))
        value = (ids, tuple(min(c, _CAP) if nid else 0 for (_, c), nid in zip(items, ids, strict=False))
                 + (0,) * (K - len(items)))
        last = self.last_day(i)
        n = self.days
        if last is None or day > last:
            if last is not None:  # the days in between hold the last value
                prev = self._get(last % n, i)
                for d in range(max(last + 1, day - n + 1), day):
                    self._set(d % n, i, prev)
            if i >= len(self._last):
                self._last.extend(array("i", [NO_DAY]) * max(_CHUNK, i + 1 - len(self._last)))
            self._last[i] = day
            self._set(day % n, i, value)
            return
        if day <= last - n:
            return
        old = self._get(day % n, i)
        for d in range(day, last + 1):  # a late point: its day and the days still holding the old value
            if d > day and self._get(d % n, i) != old:
                break
            self._set(d % n, i, value)

    def at(self, i: int, day: int) -> Top | None:
        """The account's top lifting events at its last point at or before `day`; None when that
        is out of its ring (more than `days` before its latest day), or it has nothing."""
        last = self.last_day(i)
        if last is None or day <= last - self.days:
            return None
        ids, counts = self._get(min(day, last) % self.days, i)
        top = [(self.names[nid], c) for nid, c in zip(ids, counts, strict=True) if nid]
        return top or None

    def tail(self, i: int) -> bytes:
        last = self.last_day(i)
        if last is None:
            return b""
        days: list[list[Any]] = []
        prev: Top | None = None
        for d in range(last - self.days + 1, last + 1):
            top = self.at(i, d) or []  # ([]: no lifting event, or no point yet: the same to `at`)
            if top != prev or d == last:  # (the last day: how far it reaches)
                days.append([d, top])
            prev = top
        return orjson.dumps(days)

    def load_tail(self, i: int, raw: bytes) -> None:
        """Replace the account's days with a published tail (the history topic is read in order
        before anything else, so a later record of the account is newer)."""
        if not raw:
            return
        if i < len(self._last):
            self._last[i] = NO_DAY
        for day, top in orjson.loads(raw):
            self.record(i, int(day), [(str(n), int(c)) for n, c in top])

    def nbytes(self) -> int:
        cols = [a for slot in (*self._ids, *self._counts) for a in slot]
        return sum(a.buffer_info()[1] * a.itemsize for a in (*cols, self._last))
