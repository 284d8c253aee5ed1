"""Daily history of every account's engagement and health scores, kept compactly.

`History` is a ring of `days` day slots (default 92, so 90 full days are always there). Each
slot holds two `array('h')` columns indexed by the read model's account index: the score x 10
as a 16-bit integer (one decimal; clamped to +-3276.7), `MISSING` when the account has no point
that day. Memory is 4 bytes x days per account (368 B at 92 days), with no object per account
or per point. A point is the score as the dashboard last saw it that day (the day of the
account's clock, event time, like the core's trend rings).

Persistence: the dashboard publishes each changed account's series to a compacted Kafka topic
(`TopicNames.dashboard_history`, key = account id, value = `encode()` below) and reloads it at
start, so history survives restarts without another database. The wire format::

    b"H1" + int32 first_day + uint16 n + n x int16 engagement + n x int16 health   (little-endian)
"""

from __future__ import annotations

import struct
from array import array

MISSING = -32768
NO_DAY = -(2**31)
_CLAMP = 32767
_HEAD = struct.Struct("<2siH")
_CHUNK = 4096


def to_i16(v: float | None) -> int:
    if v is None or v != v:  # None or NaN
        return MISSING
    return max(-_CLAMP, min(_CLAMP, round(v * 10)))


def from_i16(v: int) -> float | None:
    return None if v == MISSING else v / 10


class History:
    def __init__(self, days: int = 92) -> None:
        if days < 2:
            raise ValueError("history needs at least 2 days")
        self.days = days
        self.head: int | None = None  # the latest day seen
        self._day: list[int | None] = [None] * days
        self._eng = [array("h") for _ in range(days)]
        self._health = [array("h") for _ in range(days)]
        self._first = array("i")  # per account: the oldest day it had a point (NO_DAY: none)

    def _slot(self, day: int) -> int | None:
        """The slot for `day`, cleared if it held an older day; None when `day` is too old."""
        if self.head is None or day > self.head:
            self.head = day
        if day <= self.head - self.days:
            return None
        s = day % self.days
        if self._day[s] != day:
            old = self._day[s]
            if old is not None and old > day:
                return None
            self._day[s] = day
            self._eng[s] = array("h")
            self._health[s] = array("h")
        return s

    @staticmethod
    def _put(col: array[int], i: int, v: int) -> None:
        if i >= len(col):
            col.extend(array("h", [MISSING]) * max(_CHUNK, i + 1 - len(col)))
        col[i] = v

    def record(self, i: int, day: int, eng: float | None, health: float | None,
               *, only_missing: bool = False) -> bool:
        """Set account `i`'s point of `day`; with `only_missing`, keep values already there (and
        never clear one with None). True when the point changed."""
        s = self._slot(day)
        if s is None:
            return False
        e, h = self._eng[s], self._health[s]
        ev, hv = to_i16(eng), to_i16(health)
        old_e = e[i] if i < len(e) else MISSING
        old_h = h[i] if i < len(h) else MISSING
        if only_missing:
            ev = old_e if old_e != MISSING or eng is None else ev
            hv = old_h if old_h != MISSING or health is None else hv
        if (ev, hv) == (old_e, old_h):
            return False
        self._put(e, i, ev)
        self._put(h, i, hv)
        first = self._first
        if i >= len(first):
            first.extend(array("i", [NO_DAY]) * max(_CHUNK, i + 1 - len(first)))
        if first[i] == NO_DAY or day < first[i]:
            first[i] = day
        return True

    def series(self, i: int) -> list[tuple[int, float | None, float | None]]:
        """(day, engagement, health) of account `i`, oldest first, days with a point only."""
        if self.head is None:
            return []
        out = []
        for day in range(self.head - self.days + 1, self.head + 1):
            s = day % self.days
            if self._day[s] != day:
                continue
            e, h = self._eng[s], self._health[s]
            ev = e[i] if i < len(e) else MISSING
            hv = h[i] if i < len(h) else MISSING
            if ev != MISSING or hv != MISSING:
                out.append((day, from_i16(ev), from_i16(hv)))
        return out

    def first_day(self, i: int) -> int | None:
        """The oldest day with a point of account `i` still in the ring."""
        first = self._first[i] if i < len(self._first) else NO_DAY
        if first == NO_DAY or self.head is None:
            return None
        return max(first, self.head - self.days + 1)

    def encode(self, i: int) -> bytes | None:
        pts = self.series(i)
        if not pts:
            return None
        first = pts[0][0]
        n = pts[-1][0] - first + 1
        e, h = array("h", [MISSING]) * n, array("h", [MISSING]) * n
        for day, ev, hv in pts:
            e[day - first], h[day - first] = to_i16(ev), to_i16(hv)
        return _HEAD.pack(b"H1", first, n) + e.tobytes() + h.tobytes()

    def load(self, i: int, raw: bytes) -> int:
        """Merge a published series into account `i` (points already there win); how many."""
        tag, first, n = _HEAD.unpack_from(raw)
        if tag != b"H1" or len(raw) != _HEAD.size + 4 * n:
            raise ValueError("not a dashboard history record")
        e, h = array("h"), array("h")
        e.frombytes(raw[_HEAD.size:_HEAD.size + 2 * n])
        h.frombytes(raw[_HEAD.size + 2 * n:])
        done = 0
        for k in range(n):
            if e[k] != MISSING or h[k] != MISSING:
                done += self.record(i, first + k, from_i16(e[k]), from_i16(h[k]), only_missing=True)
        return done

    def nbytes(self) -> int:
        return sum(a.buffer_info()[1] * a.itemsize for a in (*self._eng, *self._health, self._first))
