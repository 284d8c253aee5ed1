"""The dashboard's pure parts: the snapshot contract, the history ring, escaping in pages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contracts.snapshot import AccountSnapshot, Engagement, Health, SnapshotError
from streams.dashboard import pages, svg
from streams.dashboard.history import MISSING, History

SNAP = AccountSnapshot(
    "acme", "2026-11-26T08:00:00+00:00", "2026-11-20T10:00:00+00:00",
    Engagement(42.5, "yellow", 50.0, -7.5),
    Health(61.0, "yellow", {"usage": 42.5, "nps": None}, "usage", None, None, ("Broken export", None)),
    ({"event": "Login", "count": 3, "points": 3.0},), {"plan": "team", "mrr": 300})


def test_snapshot_round_trips_through_json() -> None:
    assert AccountSnapshot.parse(SNAP.to_json()) == SNAP
    assert AccountSnapshot.parse(SNAP.to_json()).health.components == {"usage": 42.5, "nps": None}


@pytest.mark.parametrize(("patch", "key"), [
    ({"engagement": {"score": "high", "band": "green"}}, "'score'"),
    ({"engagement": {"score": 1, "band": "purple"}}, "'band'"),
    ({"account": 7}, "'account'"),
    ({"traits": []}, "'traits'"),
])
def test_snapshot_parse_names_the_bad_key(patch: dict, key: str) -> None:
    doc = {**SNAP.to_dict(), **patch}
    with pytest.raises(SnapshotError, match=key):
        AccountSnapshot.parse(doc)


def test_history_keeps_the_last_days_and_round_trips_through_the_topic_format() -> None:
    h = History(days=5)
    for day in range(100, 110):
        assert h.record(3, day, day * 1.5, None if day % 2 else day / 2)
    pts = h.series(3)
    assert [p[0] for p in pts] == [105, 106, 107, 108, 109]  # 5 days kept, oldest dropped
    assert pts[0] == (105, 157.5, None) and pts[1] == (106, 159.0, 53.0)
    assert h.series(0) == []  # another account has nothing
    assert not h.record(3, 104, 1.0, 1.0)  # older than the ring: refused
    other = History(days=5)
    assert other.load(0, h.encode(3) or b"") == 5
    assert other.series(0) == pts
    assert not h.record(3, 109, 163.5, None)  # the same values again: no change to publish


def test_history_load_keeps_points_already_there() -> None:
    h = History(days=10)
    h.record(0, 50, 10.0, 20.0)
    h.record(0, 51, 11.0, None)
    src = History(days=10)
    src.record(0, 49, 1.0, 2.0)
    src.record(0, 50, 99.0, 99.0)
    h.load(0, src.encode(0) or b"")
    assert h.series(0) == [(49, 1.0, 2.0), (50, 10.0, 20.0), (51, 11.0, None)]


@given(st.floats(min_value=-3000, max_value=3000, allow_nan=False))
def test_history_stores_scores_to_one_decimal(v: float) -> None:
    h = History(days=3)
    h.record(0, 1, v, v)
    (_, e, hv), = h.series(0)
    assert e is not None and abs(e - v) <= 0.05 + 1e-9 and e == hv


def test_history_clamps_and_never_writes_the_missing_marker() -> None:
    h = History(days=3)
    h.record(0, 1, -1e9, 1e9)
    assert h.series(0) == [(1, -3276.7, 3276.7)]
    assert MISSING < -32767


HOSTILE = '<img src=x onerror="alert(1)">&"\''


def test_pages_escape_ids_traits_and_subjects() -> None:
    risk = {"total": 1, "sort": "mrr", "owner_trait": "csm", "owners": [HOSTILE], "trait_keys": [HOSTILE],
            "filters": {"band": None, "trait": HOSTILE, "value": HOSTILE, "owner": None},
            "accounts": [{"account": HOSTILE, "band": "red", "score": 1.0, "delta_7d": -3.0, "trend": "down",
                          "health_band": None, "health": None, "mrr": 5.0, "mrr_source": "trait", "owner": HOSTILE,
                          "days_in_band": 2, "reason": {"weakest_component": HOSTILE,
                                                        "events_pulling_down": [
                                                            {"event": HOSTILE, "count": 1, "points": -2.0}],
                                                        "tickets": [HOSTILE]}}]}
    html = pages.layout(HOSTILE, "at-risk", pages.at_risk(risk, [HOSTILE]), HOSTILE,
                        [{"at": HOSTILE, "account": HOSTILE, "kind": HOSTILE, "to": HOSTILE}])
    assert "<img" not in html and 'onerror="' not in html
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;") >= 8
    assert re.search(r'href="/account\?id=%3Cimg', html)  # the link carries the id URL-encoded
    chart = svg.bars({HOSTILE: 1.0}, HOSTILE) + svg.timeline([(HOSTILE, 1.0, None), ("d", 2.0, 3.0)], HOSTILE)
    assert "<img" not in chart


def test_history_first_day_is_the_oldest_point_still_in_the_ring() -> None:
    h = History(days=4)
    assert h.first_day(0) is None
    h.record(0, 10, 1.0, None)
    h.record(1, 12, 1.0, None)
    assert (h.first_day(0), h.first_day(1), h.first_day(7)) == (10, 12, None)
    h.record(1, 20, 1.0, None)  # day 10 fell out of the 4-day ring
    assert (h.first_day(0), h.first_day(1)) == (17, 17)
