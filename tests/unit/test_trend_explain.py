"""Trend (score 7 days earlier) and explanation (top events), on hand-written data.

Expected values are worked out by hand in the comments; T0 = 2026-11-02T00:00:00Z.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scoring.calls import ScoredEvent
from scoring.engine import Change, Scorer
from scoring.explain import NameCounts, top_events
from scoring.model import parse_model
from scoring.trend import Trend
from streams.worker.records import alert_from_change

HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
T0 = 1_793_577_600 * 1_000_000


def test_trend_is_the_latest_snapshot_at_or_before_seven_days_earlier() -> None:
    t = Trend()
    t.record(0, 10.0, 7)
    t.record(1, 20.0, 7)
    t.record(1, 25.0, 7)  # same day: overwrites
    t.record(3, 30.0, 7)
    assert t.ago(3, 7) is None  # nothing at or before day -4
    t.record(9, 40.0, 7)
    assert t.ago(9, 7) == 25.0  # horizon day 2: day 1's last value
    assert t.ago(10, 7) == 30.0  # horizon day 3
    assert t.dump() == [[1, 25.0], [3, 30.0], [9, 40.0]]  # day 0 is older than what ago needs
    assert Trend.load(t.dump()) == t


@given(st.lists(st.integers(0, 3), min_size=1, max_size=200))
def test_trend_ring_stays_bounded(steps: list[int]) -> None:
    t, day = Trend(), 0
    for s in steps:
        day += s
        t.record(day, float(day), 7)
        assert len(t.days) <= 8
        assert t.days == sorted(set(t.days))


def test_name_counts_prune_and_round_trip() -> None:
    nc = NameCounts()
    for b, name in [(6, "Login"), (5, "Login"), (5, "Login"), (6, "Ticket")]:
        nc.add(b, name)
    assert nc.totals == {"Login": 3, "Ticket": 1} and nc.keys == [5, 6]
    assert NameCounts.load(nc.dump()) == nc
    nc.prune(5)  # bucket 5 leaves: Login 3 - 2 = 1
    assert nc.totals == {"Login": 1, "Ticket": 1} and nc.keys == [6]
    nc.prune(6)
    assert nc.totals == {} and nc.buckets == {}


def test_top_events_by_absolute_points_without_zero_weights() -> None:
    totals = {"Login": 12, "Report Exported": 2, "Ticket": 3, "Unweighted": 5}
    weights = {"Login": 1.0, "Report Exported": 5.0, "Ticket": -3.0}
    # points: Login 12, Report Exported 10, Ticket -9, Unweighted 0 (left out)
    assert top_events(totals, weights, 3) == [
        {"event": "Login", "count": 12, "points": 12.0},
        {"event": "Report Exported", "count": 2, "points": 10.0},
        {"event": "Ticket", "count": 3, "points": -9.0}]
    assert [e["event"] for e in top_events({"B": 1, "A": 2}, {"A": 1.0, "B": -2.0}, 2)] == ["A", "B"]


EXPLAIN_ONLY = """
[score]
mode = "window"
window_days = 10
[weights]
"Login" = 10
[explain]
trend_days = 7
sharp_drop_points = 20.0
"""


def test_sweep_band_change_carries_trend_and_top_events() -> None:
    scorer = Scorer(parse_model(EXPLAIN_ONLY))
    changes: list[Change] = []
    evs = [("a", T0 + i * HOUR) for i in range(5)]  # day 0: 50, yellow
    evs += [("a", T0 + DAY + i * HOUR) for i in range(3)]  # day 1: 80, green
    evs += [("z", T0 + 10 * DAY + HOUR)]  # moves the stream clock past the T0+10d sweep
    for i, (account, ts) in enumerate(evs):
        changes.extend(scorer.handle(ScoredEvent(account, "Login", ts, f"m{i}")).changes)
    # At the T0+10d sweep a's day-0 bucket leaves its 10-day window: 80 - 50 = 30, green -> red.
    (drop,) = [c for c in changes if c.account == "a" and c.cause == "sweep" and c.reason is None]
    alert = alert_from_change(drop).to_dict()
    assert (alert["from"], alert["to"], alert["score"], alert["reason"]) == ("green", "red", 30.0, "sweep")
    # day 10 - 7 = day 3: the latest snapshot at or before it is day 1's 80; delta 30 - 80 = -50
    assert (alert["score_7d_ago"], alert["delta_7d"]) == (80.0, -50.0)
    assert alert["top_events"] == [{"event": "Login", "count": 3, "points": 30.0}]  # day 1 only
    assert "components" not in alert  # no [health]: an engagement-only explanation
    # the same evaluation is a sharp drop (-50 <= -20): a separate signal right after it
    (sharp,) = [c for c in changes if c.reason == "sharp_drop"]
    assert (sharp.account, sharp.at_us, sharp.to_band, changes.index(sharp)) == (
        "a", T0 + 10 * DAY, "red", changes.index(drop) + 1)


def test_no_explain_state_without_explain_or_health() -> None:
    scorer = Scorer(parse_model('[weights]\n"Login" = 10\n'))
    (c,) = scorer.handle(ScoredEvent("a", "Login", T0, "m")).changes
    assert scorer.insight is None and scorer.accounts["a"].extra is None and c.explain is None
    alert = alert_from_change(c).to_dict()
    assert (alert["score_7d_ago"], alert["delta_7d"], alert["top_events"]) == (None, None, [])
    assert len(scorer.dump_account("a")) == 6  # the dump keeps its old shape


def test_decay_mode_counts_tickets_in_the_window_days() -> None:
    # Decay mode reads "tickets in the window" as window mode's buckets: > bucket(C) - 30.
    model = parse_model('[score]\nmode = "decay"\n[health]\n')
    scorer = Scorer(model)
    for i, ts in enumerate([T0, T0 + 20 * DAY, T0 + 31 * DAY]):
        name = "Login" if i == 2 else "Support Ticket Opened"
        scorer.handle(ScoredEvent("a", name, ts, f"m{i}"))
    # at day 31 the day-0 ticket is out (bucket 0 <= 31 - 30): 1 ticket, support 100 - 25 = 75;
    # usage 0 (no weights); nps, billing no data: (0.4*0 + 0.2*75) / 0.6 = 25 -> red
    ((account, health, band, comps),) = scorer.health_scores()
    assert (account, band, comps["support"], comps["usage"]) == ("a", "red", 75.0, 0.0)
    assert health is not None and abs(health - 25.0) <= 1e-9
