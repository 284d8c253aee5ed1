"""Event time: ISO-8601 with a zone <-> integer Unix microseconds.

All time arithmetic in Pulse is done on integer microseconds so bucket
boundaries are exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000

_US_PER_HOUR = 3600 * US_PER_SECOND
_US_PER_DAY = 24 * _US_PER_HOUR
_EPOCH_ORDINAL = EPOCH.toordinal()

# ":MM:SS" -> microseconds into the hour, for every valid minute and second.
_MIN_SEC = {f":{m:02d}:{s:02d}": (m * 60 + s) * US_PER_SECOND for m in range(60) for s in range(60)}
# "+HH:MM" / "-HH:MM" -> UTC offset in microseconds, for every offset under 24 hours.
_OFFSETS = {
    f"{sign}{h:02d}:{m:02d}": factor * (h * 3600 + m * 60) * US_PER_SECOND
    for sign, factor in (("+", 1), ("-", -1))
    for h in range(24)
    for m in range(60)
}

# "YYYY-MM-DDTHH" -> Unix microseconds of that hour in UTC; cleared when full.
_HOUR_CACHE: dict[str, int] = {}
_HOUR_CACHE_MAX = 4096


def _hour_us(prefix: str) -> int | None:
    """Unix microseconds of an exact ASCII "YYYY-MM-DDTHH" (a real date, hour < 24), else None."""
    if not (
        prefix.isascii()
        and prefix[4] == "-"
        and prefix[7] == "-"
        and prefix[10] == "T"
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
    """Unix microseconds of an ISO-8601 timestamp with a zone, else None.

    Accepts what `datetime.fromisoformat` accepts (Python 3.11: `Z`, offsets,
    fractions, basic format); a timestamp without a zone is not accepted.

    Fast path for the two shapes most events carry, exactly
    `YYYY-MM-DDTHH:MM:SSZ` (20 chars) and `YYYY-MM-DDTHH:MM:SS±HH:MM` (25):
    the UTC hour `YYYY-MM-DDTHH` comes from a small bounded cache (a stream
    stays within an hour for many events), `:MM:SS` and the offset from
    tables holding every valid value, so each lookup validates and converts
    at once. A miss anywhere (other shape, non-ASCII digit, hour 24, minute
    60, February 30, ...) defers to `fromisoformat`, which decides; its
    datetime becomes microseconds through the timedelta's integer fields
    (exactly `// timedelta(microseconds=1)`, but cheaper).
    """
    n = len(text)
    if n == 20 or n == 25:
        hour = _HOUR_CACHE.get(text[:13])
        if hour is None:
            hour = _hour_us(text[:13])
        min_sec = _MIN_SEC.get(text[13:19])
        if hour is not None and min_sec is not None:
            if n == 20:
                if text[19] == "Z":
                    return hour + min_sec
            else:
                offset = _OFFSETS.get(text[19:])
                if offset is not None:
                    return hour + min_sec - offset
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    try:
        delta = dt - EPOCH
    except TypeError:  # a tzinfo whose utcoffset() is None counts as naive
        return None
    # == delta // _US exactly (timedelta keeps days, seconds, microseconds normalised), but cheaper.
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def format_us(ts_us: int) -> str:
    """ISO-8601 UTC, e.g. `2026-11-02T10:15:00+00:00` (microseconds only when non-zero)."""
    return (EPOCH + timedelta(microseconds=ts_us)).isoformat()
