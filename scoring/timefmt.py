"""Event time: ISO-8601 text <-> integer Unix microseconds.

All time arithmetic in Pulse is done on integer microseconds so bucket
boundaries are exact.

The accepted forms (and nothing else): `YYYY-MM-DD`, `T` or a space,
`HH:MM:SS`, an optional fraction (`.` and one or more digits; digits past
microseconds are dropped, not rounded), and a zone `Z`, `z`, `+HH:MM`,
`-HH:MM`, `+HHMM`, `-HHMM`, or none (UTC). All digits are ASCII; the date is
a real calendar date (year 0001..9999), hour 00..23, minute and second
00..59, zone hour 00..23 and zone minute 00..59. Dates alone, numbers, week
or ordinal dates, the basic format, a comma fraction, surrounding spaces:
invalid (None).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000

_US_PER_HOUR = 3600 * US_PER_SECOND
_US_PER_DAY = 24 * _US_PER_HOUR
_EPOCH_ORDINAL = EPOCH.toordinal()

# ":MM:SS" -> microseconds into the hour, for every valid minute and second.
_MIN_SEC = {f":{m:02d}:{s:02d}": (m * 60 + s) * US_PER_SECOND for m in range(60) for s in range(60)}
# "+HH:MM" / "-HH:MM" / "Z" / "z" / "" -> UTC offset in microseconds, for every offset under 24 h.
_OFFSETS = {
    f"{sign}{h:02d}:{m:02d}": factor * (h * 3600 + m * 60) * US_PER_SECOND
    for sign, factor in (("+", 1), ("-", -1))
    for h in range(24)
    for m in range(60)
}
_OFFSETS.update({"Z": 0, "z": 0, "": 0})

# "YYYY-MM-DDTHH" (or with a space) -> Unix microseconds of that hour in UTC; cleared when full.
_HOUR_CACHE: dict[str, int] = {}
_HOUR_CACHE_MAX = 4096

# The whole grammar, for what the fast path does not settle. re.ASCII: `\d` is 0-9 only.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)


def _hour_us(prefix: str) -> int | None:
    """Unix microseconds of an exact ASCII "YYYY-MM-DDTHH" or "YYYY-MM-DD HH" (a real date,
    hour < 24), else None."""
    if not (
        prefix.isascii()
        and prefix[4] == "-"
        and prefix[7] == "-"
        and (prefix[10] == "T" or prefix[10] == " ")
        and (prefix[:4] + prefix[5:7] + prefix[8:10] + prefix[11:]).isdigit()
    ):
        return None
    hour = int(prefix[11:])
    if hour > 23:
        return None
    try:
        day = date(int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]))
    except ValueError:  # year 0, month 13, February 30, ...
        return None
    us = (day.toordinal() - _EPOCH_ORDINAL) * _US_PER_DAY + hour * _US_PER_HOUR
    if len(_HOUR_CACHE) >= _HOUR_CACHE_MAX:
        _HOUR_CACHE.clear()
    _HOUR_CACHE[prefix] = us
    return us


def parse_iso_us(text: str) -> int | None:
    """Unix microseconds of an ISO-8601 timestamp in the accepted forms (module docstring), else None.

    Fast path: the date and hour `YYYY-MM-DDTHH` come from a small bounded cache (a stream stays
    within an hour for many events), `:MM:SS` and a zone without a fraction (`Z`, `z`, `±HH:MM`,
    none) from tables holding every valid value, so each lookup validates and converts at once.
    Anything else (a fraction, `±HHMM`, ...) goes through the full grammar `_ISO`.
    """
    if len(text) >= 19:
        hour = _HOUR_CACHE.get(text[:13])
        if hour is None:
            hour = _hour_us(text[:13])
        if hour is not None:
            min_sec = _MIN_SEC.get(text[13:19])
            offset = _OFFSETS.get(text[19:])
            if min_sec is not None and offset is not None:
                return hour + min_sec - offset
    return _parse_full(text)


def _parse_full(text: str) -> int | None:
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    hour, minute, second = int(m.group(4)), int(m.group(5)), int(m.group(6))
    if hour > 23 or minute > 59 or second > 59:
        return None
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    us = ((day.toordinal() - _EPOCH_ORDINAL) * 86_400 + hour * 3600 + minute * 60 + second
          ) * US_PER_SECOND
    frac = m.group(7)
    if frac is not None:
        us += int((frac + "00000")[:6])
    sign = m.group(9)
    if sign is not None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        off = (oh * 3600 + om * 60) * US_PER_SECOND
        us = us - off if sign == "+" else us + off
    return us


def format_us(ts_us: int) -> str:
    """ISO-8601 UTC, e.g. `2026-11-02T10:15:00+00:00` (microseconds only when non-zero)."""
    return (EPOCH + timedelta(microseconds=ts_us)).isoformat()
