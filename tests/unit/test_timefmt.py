"""parse_iso_us: exactly the accepted ISO-8601 forms, for any text, checked against the naive
reference's independent parser (tests/reference/naive.py `iso_us`) and hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scoring import timefmt
from scoring.timefmt import format_us, parse_iso_us
from tests.reference.naive import iso_us as naive_iso_us

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference(text: str) -> int | None:
    """The independent parser the implementation must agree with."""
    return naive_iso_us(text)


# hand-computed: 2026-11-02T09:15:00Z = 1_793_610_900 s (see test_known_values)
T0 = 1_793_610_900_000_000


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-02T09:15:00Z", T0),
    ("2026-11-02T09:15:00z", T0),
    ("2026-11-02 09:15:00Z", T0),
    ("2026-11-02T09:15:00", T0),  # no zone: UTC
    ("2026-11-02 09:15:00", T0),
    ("2026-11-02T11:15:00+0200", T0),
    ("2026-11-02T11:15:00+02:00", T0),
    ("2026-11-02T04:15:00-0500", T0),
    ("2026-11-02T09:15:00-00:00", T0),
    ("2026-11-02T09:15:00.123456789Z", T0 + 123_456),  # digits past µs dropped, not rounded
    ("2026-11-02T09:15:00.9999999Z", T0 + 999_999),
    ("2026-11-02T09:15:00.1", T0 + 100_000),
    ("2026-11-02T11:15:00.5+0200", T0 + 500_000),
    ("2026-11-02", None), ("2026-11-02T09:15Z", None), ("2026-11-02T09:15:00,5Z", None),
    ("2026-11-02t09:15:00Z", None), ("2026-11-02T09:15:00.Z", None), ("2026-11-02T09:15:00+02", None),
    ("20261102T091500Z", None), ("1793610900", None), ("yesterday", None), ("", None),
    ("2026-11-02T09:15:00Z ", None), (" 2026-11-02T09:15:00Z", None), ("2026-11-02T09:15:00+2:00", None),
    ("2026-11-02T09:15:00+24:00", None), ("2026-11-02T09:15:00+0060", None),
    ("2026-11-02T24:00:00Z", None), ("2026-02-30T00:00:00Z", None), ("2026-11-02T09:15:60Z", None),
])
def test_accepted_forms_hand_computed(text: str, expected: int | None) -> None:
    assert parse_iso_us(text) == expected


def test_known_values() -> None:
    assert parse_iso_us("1970-01-01T00:00:00Z") == 0
    assert parse_iso_us("1970-01-02T00:00:00Z") == 86_400_000_000
    assert parse_iso_us("1969-12-31T23:59:59.999999+00:00") == -1
    # 2026-11-02T10:15:00.5+01:00 is 09:15:00.5 UTC. Days 1970-01-01 -> 2026-01-01:
    # 56 * 365 + 14 leap days (1972..2024) = 20_454; + 304 (Jan..Oct) + 1 = 20_759 to Nov 2.
    # 20_759 * 86_400 + 9 * 3600 + 15 * 60 = 1_793_610_900 s, then .5 s.
    assert parse_iso_us("2026-11-02T10:15:00.5+01:00") == 1_793_610_900_500_000
    assert parse_iso_us("2026-11-02T09:15:00.500Z") == 1_793_610_900_500_000
    assert parse_iso_us("2026-11-02T10:15:00+01:00") == 1_793_610_900_000_000
    assert format_us(1_793_610_900_500_000) == "2026-11-02T09:15:00.500000+00:00"


def test_common_shapes_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = ("2026-07-31T23:00:00Z", "2026-07-31T23:00:00+02:00", "2026-07-31 23:00:00z",
              "2026-07-31T23:00:00")
    expected = {t: reference(t) for t in shapes}
    monkeypatch.setattr(timefmt, "_parse_full", None)  # any use of the full grammar would now fail
    for text, us in expected.items():
        assert parse_iso_us(text) == us


EDGES = [
    "2026-07-31T23:00:00Z",
    "2026-07-31T24:00:00Z",
    "2026-07-31T23:60:00Z",
    "2026-07-31T23:00:60Z",
    "2026-07-31T23:59:59Z",
    "2026-07-31t23:00:00Z",
    "2026-07-31 23:00:00Z",
    "2026-07-31T23:00:00z",
    "2024-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999Z",
    "2026-07-31T23:00:00+24:00",
    "2026-07-31T23:00:00-24:00",
    "2026-07-31T23:00:00+00:60",
    "2026-07-31T23:00:00+00:75",
    "2026-07-31T23:00:00+23:60",
    "2026-07-31T23:00:00-23:60",
    "2026-07-31T23:00:00+23:59",
    "2026-07-31T23:00:00-00:00",
    "2026-07-31T23:00:00+05:30",
    "2026-07-31T23:00:00-09:45",
    "2026-07-31T23:00:00+0100",
    "2026-07-31T23:00:00+01",
    "2026-07-31T23:00:00+01:00:30",
    "2026-07-31T23:00:00.Z",
    "2026-07-31T23:00:00.+01:00",
    "2026-07-31T23:00:00,5Z",
    "2026-07-31T23:00:00.1234567Z",
    "2026-07-31T23:00:00.123456789+01:00",
    "2026-07-31T23:00:00",
    "2026-07-31T23:00:00.123",
    "2026-07-31",
    "2026-07-31T23Z",
    "20260731T230000Z",
    "2026-W31-5T23:00:00Z",
    "2026-212T23:00:00Z",
    "2026-07-31T23:00Z",
    "2026-07-31T23:00:00ZZ",
    "2026-07-31T2٣:00:00Z",
    "٢026-07-31T23:00:00Z",
    "2026-07-31T23:0٣:00Z",
    "2026-07-31T23:00:00+0٣:00",
    "2026-07-31T23:00:00\uff0b01:00",
    "2026-07-31T23:00:00+01\u200b00",
    "+026-07-31T23:00:00Z",
    "2026-+7-31T23:00:00Z",
    "2026-07-31T+3:00:00Z",
    "2026-07-31T23:+0:00Z",
    "2026-07-31T23:00:+0Z",
    "2026-07-31T23:00:00++1:00",
    "2026-07-31T23:00:00+-1:00",
    "2026-07-31T23:00:00+1_:00",
    "2026-07-31T 3:00:00Z",
    "2026-07-31T23:00:00+ 1:00",
    "2_26-07-31T23:00:00Z",
    "2026-07-31T23:00:00-",
    "",
    "Z",
    "2026-07-31T23:00:00Z\n",
    " 2026-07-31T23:00:00Z",
    "2026-07-31T23:00:00+01:00 ",
]


@pytest.mark.parametrize("text", EDGES)
def test_edges_match_reference(text: str) -> None:
    assert parse_iso_us(text) == reference(text)


offsets = st.one_of(
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m)),
    st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(lambda s: timedelta(seconds=s)),
    st.just(timedelta(0)),
)
aware = st.builds(
    lambda dt, off: dt.replace(tzinfo=timezone(off)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999)),
    offsets,
)
TIMESPECS = ["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"]


@st.composite
def formatted(draw: st.DrawFn) -> str:
    """An aware datetime written in one of the ways `fromisoformat` reads."""
    dt: datetime = draw(aware)
    sep = draw(st.sampled_from("T t"))
    if draw(st.booleans()):
        text = dt.isoformat(sep=sep, timespec=draw(st.sampled_from(TIMESPECS)))
    else:  # a fraction of 0 to 9 digits
        naive = dt.replace(tzinfo=None)
        zone = dt.isoformat()[len(naive.isoformat()) :]
        digits = f"{dt.microsecond:06d}{draw(st.integers(0, 999)):03d}"[: draw(st.integers(0, 9))]
        text = naive.isoformat(sep=sep, timespec="seconds") + draw(st.sampled_from(".,")) + digits + zone
    if text.endswith("+00:00") and draw(st.booleans()):
        text = text[:-6] + "Z"
    return text


@given(formatted())
@settings(max_examples=3000, deadline=None)
@example("2026-07-31T23:00:00Z")
@example("2026-07-31T23:00:00.123Z")
@example("2026-07-31T23:00:00.123456+00:00")
@example("2026-07-31T23:00:00+02:00")
def test_formatted_aware_datetimes_match_reference(text: str) -> None:
    assert parse_iso_us(text) == reference(text)


@given(st.datetimes(min_value=datetime(1, 1, 1)), st.sampled_from(TIMESPECS))
@settings(max_examples=300, deadline=None)
def test_zone_less_is_utc(dt: datetime, timespec: str) -> None:
    text = dt.isoformat(timespec=timespec)
    if timespec in ("hours", "minutes"):  # no seconds: not an accepted form
        assert parse_iso_us(text) is None
    else:
        kept = {"seconds": 0, "milliseconds": dt.microsecond // 1000 * 1000}.get(timespec, dt.microsecond)
        expected = (dt.replace(tzinfo=UTC, microsecond=kept) - EPOCH) // timedelta(microseconds=1)
        assert parse_iso_us(text) == expected


NOISE = "0123456789-:T.Z+ ,_٣３Wt\u200b"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid timestamp with a few characters substituted, inserted or deleted."""
    chars = list(draw(formatted()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(chars)))
        op = draw(st.sampled_from(["sub", "sub", "ins", "del"]))
        if op == "ins" or not chars or at == len(chars):
            chars.insert(at, draw(st.sampled_from(NOISE)))
        elif op == "sub":
            chars[at] = draw(st.sampled_from(NOISE))
        else:
            del chars[at]
    return "".join(chars)


FAST_SHAPES = ["2026-07-31T23:00:00Z", "2026-07-31T23:00:00+02:00", "1999-12-31T23:59:59-09:30"]


@st.composite
def substituted(draw: st.DrawFn) -> str:
    """A fast-path shape (same length) with one or two characters replaced."""
    chars = list(draw(st.sampled_from(FAST_SHAPES)))
    for _ in range(draw(st.integers(1, 2))):
        chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from(NOISE))
    return "".join(chars)


@given(st.one_of(mutated(), substituted(), st.text(NOISE, max_size=34)))
@settings(max_examples=5000, deadline=None)
def test_mutated_text_matches_reference(text: str) -> None:
    assert parse_iso_us(text) == reference(text)


def test_hour_cache_stays_bounded() -> None:
    day0 = datetime(1990, 1, 1, tzinfo=UTC)
    for i in range(10_000):
        dt = day0 + timedelta(days=i, hours=i % 24)
        text = dt.isoformat().replace("+00:00", "Z")
        assert parse_iso_us(text) == reference(text)
        assert len(timefmt._HOUR_CACHE) <= timefmt._HOUR_CACHE_MAX
