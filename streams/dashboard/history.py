"""Daily history of every account's scores and bands, kept compactly.

`History` is a ring of `days` day slots (default 92, so 90 full days are always there). Each
slot holds two 16-bit columns indexed by the read model's account index:

- `eng` (`array('h')`): the engagement score x 10 (one decimal; clamped to +-3276.7), `MISSING`
  when the account has no point that day;
- `packed` (`array('H')`): the health score x 10 in the low 10 bits (a health score is 0..100,
  so 0..1000; 1023 = none), the engagement band in the next 3 bits and the health band in the top
  3 (0..4 = `scoring.bands.BAND_NAMES`, 7 = not known). `PACKED_MISSING` (all ones): no point.

So the band of every account on every day is kept at no cost beyond the scores (4 bytes x days
per account, 368 B at 92 days), with no object per account or per point. A point is the score and
band as the dashboard last saw them that day (the day of the account's clock, event time, like
the core's trend rings); days before the dashboard first saw an account are seeded from the
core's trend rings, with scores only (bands not known).

Persistence: the dashboard publishes each changed account's series to a compacted Kafka topic
(`TopicNames.dashboard_history`, key = account id, value = `encode()` below) and reloads it at
start, so history survives restarts without another database. The wire format::

    b"H2" + int32 first_day + uint16 n + n x int16 engagement + n x uint16 packed
          + optional tail (bytes the caller adds: `streams.dashboard.contrib`)      (little-endian)

`H1` records (an earlier version: n x int16 health instead of `packed`, no tail) still load.
"""

from __future__ import annotations

import struct
from array import array

MISSING = -32768
NO_DAY = -(2**31)
NO_BAND = 7
H_NONE = 1023
PACKED_MISSING = 0xFFFF
_CLAMP = 32767
_HEAD = struct.Struct("<2siH")
_CHUNK = 4096
Point = tuple[int, float | None, int | None, float | None, int | None]  # see History.latest_at


def to_i16(v: float | None) -> int:
    if v is None or v != v:  # None or NaN
        return MISSING
    return max(-_CLAMP, min(_CLAMP, round(v * 10)))


def from_i16(v: int) -> float | None:
    return None if v == MISSING else v / 10


def pack(health: float | None, eband: int | None, hband: int | None) -> int:
    """One `packed` value; `pack(None, None, None) == PACKED_MISSING`."""
    h = H_NONE if health is None or health != health else max(0, min(1000, round(health * 10)))
    e = NO_BAND if eband is None or not 0 <= eband < NO_BAND else eband
    b = NO_BAND if hband is None or not 0 <= hband < NO_BAND else hband
    return h | e << 10 | b << 13


def unpack(v: int) -> tuple[float | None, int | None, int | None]:
    """(health, engagement band, health band) of a `packed` value (None: not known)."""
    h, e, b = v & 0x3FF, v >> 10 & 7, v >> 13
    return (None if h == H_NONE else h / 10, None if e == NO_BAND else e, None if b == NO_BAND else b)


class History:
    def __init__(self, days: int = 92) -> None:
        if days < 2:
            raise ValueError("history needs at least 2 days")
        self.days = days
        self.head: int | None = None  # the latest day seen
        self._day: list[int | None] = [None] * days
        self._eng = [array("h") for _ in range(days)]
        self._packed = [array("H") for _ in range(days)]

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
            self._packed[s] = array("H")
        return s

    @staticmethod
    def _put(col: array[int], i: int, v: int, empty: int) -> None:
        if i >= len(col):
            col.extend(array(col.typecode, [empty]) * max(_CHUNK, i + 1 - len(col)))
        col[i] = v

    def _at(self, s: int, i: int) -> tuple[int, int]:
        e, p = self._eng[s], self._packed[s]
        return (e[i] if i < len(e) else MISSING), (p[i] if i < len(p) else PACKED_MISSING)

    def record(self, i: int, day: int, eng: float | None, health: float | None,
               eband: int | None = None, hband: int | None = None, *, only_missing: bool = False) -> bool:
        """Set account `i`'s point of `day`; with `only_missing`, keep what is already there (and
        never clear a value with None). True when the point changed."""
        s = self._slot(day)
        if s is None:
            return False
        old_e, old_p = self._at(s, i)
        ev, pv = to_i16(eng), pack(health, eband, hband)
        if only_missing:
            oh, oe, ob = unpack(old_p)
            nh, ne, nb = unpack(pv)
            ev = old_e if old_e != MISSING else ev
            pv = pack(oh if oh is not None else nh, oe if oe is not None else ne,
                      ob if ob is not None else nb)
        if (ev, pv) == (old_e, old_p):
            return False
        self._put(self._eng[s], i, ev, MISSING)
        self._put(self._packed[s], i, pv, PACKED_MISSING)
        return True

    def _days(self) -> range:
        assert self.head is not None
        return range(self.head - self.days + 1, self.head + 1)

    def points(self, i: int) -> list[tuple[int, float | None, float | None, int | None, int | None]]:
        """(day, engagement, health, engagement band, health band) of account `i`, oldest first,
        days with a point only."""
        if self.head is None:
            return []
        out = []
        for day in self._days():
            s = day % self.days
            if self._day[s] != day:
                continue
            ev, pv = self._at(s, i)
            if ev != MISSING or pv != PACKED_MISSING:
                out.append((day, from_i16(ev), *unpack(pv)))
        return out

    def series(self, i: int) -> list[tuple[int, float | None, float | None]]:
        """(day, engagement, health) of account `i`, oldest first, days with a point only."""
        return [(d, e, h) for d, e, h, _, _ in self.points(i)]

    def latest_at(self, i: int, day: int) -> Point | None:
        """Account `i`'s latest point at or before `day` still in the ring, as (day, engagement,
        engagement band, health, health band); None when it has none."""
        if self.head is None:
            return None
        for d in range(min(day, self.head), self.head - self.days, -1):
            s = d % self.days
            if self._day[s] != d:
                continue
            ev, pv = self._at(s, i)
            if ev != MISSING or pv != PACKED_MISSING:
                h, eb, hb = unpack(pv)
                return d, from_i16(ev), eb, h, hb
        return None

    def first_day(self, i: int) -> int | None:
        """The oldest day with a point of account `i` still in the ring."""
        pts = self.points(i)
        return pts[0][0] if pts else None

    def encode(self, i: int, tail: bytes = b"") -> bytes | None:
        pts = self.points(i)
        if not pts:
            return None
        first = pts[0][0]
        n = pts[-1][0] - first + 1
        e, p = array("h", [MISSING]) * n, array("H", [PACKED_MISSING]) * n
        for day, ev, hv, eb, hb in pts:
            e[day - first], p[day - first] = to_i16(ev), pack(hv, eb, hb)
        return _HEAD.pack(b"H2", first, n) + e.tobytes() + p.tobytes() + tail

    def load(self, i: int, raw: bytes) -> tuple[int, bytes]:
        """Merge a published series into account `i`: its points replace those of the same days
        (the topic is read in order before anything else, so a later record of the account is
        newer); (how many points changed, the record's tail)."""
        tag, first, n = _HEAD.unpack_from(raw)
        size = _HEAD.size + 4 * n
        if tag not in (b"H1", b"H2") or len(raw) < size or (tag == b"H1" and len(raw) != size):
            raise ValueError("not a dashboard history record")
        e = array("h")
        e.frombytes(raw[_HEAD.size:_HEAD.size + 2 * n])
        p = array("h" if tag == b"H1" else "H")
        p.frombytes(raw[_HEAD.size + 2 * n:size])
        done = 0
        for k in range(n):
            if tag == b"H1":
                health, eb, hb = from_i16(p[k]), None, None
            else:
                health, eb, hb = unpack(p[k])
            if e[k] != MISSING or health is not None or eb is not None or hb is not None:
                done += self.record(i, first + k, from_i16(e[k]), health, eb, hb)
        return done, raw[size:]

    def nbytes(self) -> int:
        return sum(a.buffer_info()[1] * a.itemsize for a in (*self._eng, *self._packed))
