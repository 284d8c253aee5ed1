"""Event time: ISO-8601 with a zone <-> integer Unix microseconds.

All time arithmetic in Pulse is done on integer microseconds so bucket
boundaries are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000


def parse_iso_us(text: str) -> int | None:
    """Unix microseconds of an ISO-8601 timestamp with a zone, else None.

    Accepts what `datetime.fromisoformat` accepts (Python 3.11: `Z`, offsets,
    fractions, basic format); a timestamp without a zone is not accepted.
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None
    try:
        return (dt - EPOCH) // _US
    except OverflowError:  # pragma: no cover - fromisoformat bounds the range
        return None


def format_us(ts_us: int) -> str:
    """ISO-8601 UTC, e.g. `2026-11-02T10:15:00+00:00` (microseconds only when non-zero)."""
    return (EPOCH + timedelta(microseconds=ts_us)).isoformat()
