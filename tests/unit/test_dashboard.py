"""The dashboard's pure parts: the snapshot contract, the history ring, escaping in pages."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contracts.snapshot import AccountSnapshot, Engagement, Health, SnapshotError
from streams.dashboard import pages, svg
from streams.dashboard.contrib import Contributions, as_points, lost_since, top_lifts
from streams.dashboard.history import MISSING, PACKED_MISSING, History, pack

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
    assert other.load(0, h.encode(3) or b"") == (5, b"")
    assert other.series(0) == pts
    assert not h.record(3, 109, 163.5, None)  # the same values again: no change to publish


def test_history_load_lets_a_later_record_win() -> None:
    h = History(days=10)
    h.record(0, 50, 10.0, 20.0)
    h.record(0, 51, 11.0, None)
    src = History(days=10)
    src.record(0, 49, 1.0, 2.0)
    src.record(0, 50, 99.0, 99.0)
    h.load(0, src.encode(0) or b"")
    assert h.series(0) == [(49, 1.0, 2.0), (50, 99.0, 99.0), (51, 11.0, None)]


@given(st.floats(min_value=-3000, max_value=3000, allow_nan=False), st.floats(min_value=0, max_value=100),
       st.sampled_from([None, 0, 1, 2, 3, 4]), st.sampled_from([None, 0, 1, 2, 3, 4]))
def test_history_stores_scores_to_one_decimal_and_the_bands(v: float, hv: float, eb: int | None,
                                                             hb: int | None) -> None:
    h = History(days=3)
    h.record(0, 1, v, hv, eb, hb)
    (_, e, got_h, got_eb, got_hb), = h.points(0)
    assert e is not None and abs(e - v) <= 0.05 + 1e-9
    assert got_h is not None and abs(got_h - hv) <= 0.05 + 1e-9
    assert (got_eb, got_hb) == (eb, hb)
    assert History(days=3).load(0, h.encode(0) or b"")[0] == 1


def test_history_clamps_and_never_writes_the_missing_markers() -> None:
    h = History(days=3)
    h.record(0, 1, -1e9, 1e9)
    assert h.series(0) == [(1, -3276.7, 100.0)]  # a health score is 0..100
    assert MISSING < -32767
    assert pack(100.0, 4, 4) != PACKED_MISSING and pack(None, None, None) == PACKED_MISSING


def test_history_reads_the_earlier_h1_records() -> None:
    # b"H1", first day 7, 2 days; engagement 12.5 and -, health 40.0 and 50.5 (x 10, int16)
    raw = struct.pack("<2siH", b"H1", 7, 2) + struct.pack("<hh", 125, MISSING) + struct.pack("<hh", 400, 505)
    h = History(days=10)
    assert h.load(0, raw) == (2, b"")
    assert h.points(0) == [(7, 12.5, 40.0, None, None), (8, None, 50.5, None, None)]
    with pytest.raises(ValueError):
        h.load(0, raw + b"x")  # an H1 record has no tail


def test_latest_point_at_or_before_a_day() -> None:
    h = History(days=10)
    h.record(0, 3, 10.0, 60.0, 1, 2)
    h.record(0, 6, 50.0, None, 2, None)
    assert h.latest_at(0, 5) == (3, 10.0, 1, 60.0, 2)
    assert h.latest_at(0, 6) == (6, 50.0, 2, None, None)
    assert h.latest_at(0, 2) is None and h.latest_at(1, 9) is None


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
    h.record(1, 20, 1.0, None)  # days 10 and 12 fell out of the 4-day ring
    assert (h.first_day(0), h.first_day(1)) == (None, 20)


def test_contributions_fill_forward_and_survive_the_topic_format() -> None:
    c = Contributions(days=4)
    c.record(0, 10, [("Login", 5), ("Report Exported", 2)])
    c.record(1, 30, [("Login", 1)])  # another account far ahead: each account has its own days
    c.record(0, 12, [("Login", 6)])  # day 11 holds day 10's value (the latest point at or before it)
    assert c.at(0, 11) == [("Login", 5), ("Report Exported", 2)] and c.at(0, 12) == [("Login", 6)]
    c.record(0, 11, [("Login", 7)])  # a late point of day 11: replaces 11, not 12 (its own point)
    assert (c.at(0, 10), c.at(0, 11), c.at(0, 12)) == ([("Login", 5), ("Report Exported", 2)],
                                                       [("Login", 7)], [("Login", 6)])
    assert c.at(0, 14) == [("Login", 6)]  # after its latest day: that day's value
    assert c.at(1, 29) is None and c.at(1, 30) == [("Login", 1)] and c.at(2, 12) is None  # (first point: 30)
    c.record(0, 15, [])  # latest day 15: the ring holds 12..15; day 10 is gone
    assert c.at(0, 11) is None and c.at(0, 13) == [("Login", 6)] and c.at(0, 15) is None
    c.record(0, 16, [("Login", 2)])
    h = History(days=10)
    h.record(0, 16, 10.0, None, 1, None)
    other, back = History(days=10), Contributions(days=4)
    _, tail = other.load(5, h.encode(0, c.tail(0)) or b"")
    back.load_tail(5, back.tail(5) or b'[[2,[["Login",99]]]]')  # an older record of the account, first
    back.load_tail(5, tail)  # the later one replaces it
    assert [back.at(5, d) for d in (13, 14, 15, 16)] == [[("Login", 6)], [("Login", 6)], None, [("Login", 2)]]


def test_lost_and_top_lifts_by_hand() -> None:
    w = {"Login": 1.0, "Report Exported": 5.0, "Support Ticket Opened": -3.0}
    # points: Report Exported 3 x 5 = 15, Login 12 x 1 = 12; tickets never lift
    assert top_lifts({"Login": 12, "Report Exported": 3, "Support Ticket Opened": 4}, w) == [
        ("Report Exported", 3), ("Login", 12)]
    lost = lost_since([("Report Exported", 3), ("Login", 12)], {"Login": 12, "Report Exported": 1}, w)
    assert lost == [("Report Exported", 3, 1)]
    assert as_points(lost, w) == [{"event": "Report Exported", "points_then": 15.0, "points_now": 5.0}]
