"""The dashboard's views over a read model built by hand (expected values written out here)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scoring.model import load_model
from scoring.revenue import account_mrr
from scoring.trend import DAY_US
from streams.contracts.snapshot import AccountSnapshot, Engagement, Health
from streams.dashboard.alerts import AlertBook, check_alert
from streams.dashboard.derive import Derived
from streams.dashboard.model import ReadModel
from streams.dashboard.views import Views

DAY = 20_000
MODEL = load_model(None)


def _snap(account: str, score: float, band: str, traits: dict[str, Any], ago: float | None = None,
          top: tuple[dict[str, Any], ...] = (), health: Health | None = None, day: int = DAY,
          lifts: dict[str, int] | None = None) -> Derived:
    snap = AccountSnapshot(account, "", "", Engagement(score, band, ago, None if ago is None else score - ago),
                           health, top, traits)
    mrr, src = account_mrr(None, traits.get("mrr"))  # (the trait: no subscription events here)
    return Derived(snap, day * DAY_US + 3600_000_000, day * DAY_US, [(day - 3, 50.0)], [], mrr, src,
                   lifts or {})


def _alert(account: str, frm: str | None, to: str, day: int, top: list[dict[str, Any]] | None = None,
           kind: str = "engagement", reason: str = "band_change") -> dict[str, Any]:
    from scoring.timefmt import format_us

    a = check_alert({"alert_id": f"{account}-{day}-{kind}-{reason}", "account": account, "kind": kind,
                     "from": frm, "to": to, "direction": "down" if frm else "initial", "score": 1.0,
                     "at": format_us(day * DAY_US), "reason": reason, "top_events": top or [], "traits": {}})
    assert a is not None
    return a


def _views() -> Views:
    rm, book = ReadModel(weights=dict(MODEL.weights)), AlertBook()
    v = Views(rm, book, MODEL)
    # the week before: a was yellow 9 days ago (and is red since 2 days ago), e was red 8 days ago;
    # a's lifting events 7 days ago: Login x9 (9 points), Report Exported x2 (10 points)
    rm.upsert(_snap("a", 55.0, "yellow", {"plan": "team"}, day=DAY - 9))
    rm.upsert(_snap("a", 45.0, "yellow", {"plan": "team"}, day=DAY - 7,
                    lifts={"Login": 9, "Report Exported": 2, "Support Ticket Opened": 1}))
    rm.upsert(_snap("a", 30.0, "red", {"plan": "team"}, day=DAY - 2, lifts={"Login": 4}))
    rm.upsert(_snap("e", 30.0, "red", {"plan": "team"}, day=DAY - 8))
    rm.upsert(_snap("b", -5.0, "at_risk", {"plan": "free"}, day=DAY - 20))
    rm.upsert(_snap("a", 10.0, "red", {"plan": "team", "industry": "retail", "mrr": 500, "csm": "Dana"}, ago=40.0,
                    top=({"event": "Login", "count": 2, "points": 2.0},
                         {"event": "Support Ticket Opened", "count": 1, "points": -3.0}),
                    lifts={"Login": 2}))
    rm.upsert(_snap("b", -5.0, "at_risk", {"plan": "free", "industry": "fintech", "mrr": 900}, ago=-4.0))
    rm.upsert(_snap("c", 90.0, "green", {"plan": "trial", "industry": "retail"}))
    rm.upsert(_snap("d", 150.0, "thriving", {"plan": "FREE"}))
    rm.upsert(_snap("e", 50.0, "yellow", {"plan": "team"}, ago=20.0))
    book.add(_alert("a", "yellow", "red", DAY - 2))
    return v


def test_portfolio_counts_bands_mrr_breakdown_and_weekly_movement() -> None:
    p = _views().portfolio("industry")
    assert p["accounts"] == 5
    assert p["engagement_bands"] == {"at_risk": 1, "red": 1, "yellow": 1, "green": 1, "thriving": 1}
    assert p["mrr_by_band"]["at_risk"] == 1400.0 and p["mrr_by_band"]["accounts_with_mrr"] == 2
    assert p["breakdown"]["rows"]["retail"] == {"at_risk": 0, "red": 1, "yellow": 0, "green": 1, "thriving": 0}
    assert p["breakdown"]["rows"]["(none)"]["thriving"] == 1
    mv = p["movement"]["engagement"]
    # a: yellow 7 days ago (its point of day -7), red now -> in; e: red (day -8), yellow now -> out;
    # b: at_risk then and now; c, d: no point that old
    assert (mv["into_risk"], mv["out_of_risk"]) == (1, 1)
    assert mv["into_accounts"] == ["a"] and mv["out_accounts"] == ["e"]


def test_movement_follows_later_upserts_and_the_clock() -> None:
    v = _views()
    v.portfolio()  # the counts are now kept up to date
    v.rm.upsert(_snap("e", 20.0, "red", {"plan": "team"}))  # e back in red: red then, red now
    assert v.movement.summary("engagement")["out_of_risk"] == 0
    v.rm.upsert(_snap("c", 95.0, "green", {}, day=DAY + 8))  # the clock moves 8 days: a's ref is its red of day -2
    mv = v.movement.summary("engagement")
    assert (mv["into_risk"], mv["out_of_risk"]) == (0, 0)


def test_at_risk_sorts_filters_and_explains() -> None:
    v = _views()
    assert [r["account"] for r in v.at_risk()["accounts"]] == ["b", "a"]  # by MRR, highest first
    assert [r["account"] for r in v.at_risk(sort="drop")["accounts"]] == ["a", "b"]  # -30 before -1
    assert [r["account"] for r in v.at_risk(trait="industry", value="retail")["accounts"]] == ["a"]
    assert [r["account"] for r in v.at_risk(owner="Dana")["accounts"]] == ["a"]
    assert [r["account"] for r in v.at_risk(band="at_risk")["accounts"]] == ["b"]
    a = v.at_risk()["accounts"][1]
    assert a["trend"] == "down" and a["days_in_band"] == 2  # red since its point of day -2
    # lost since 7 days ago (day -7: Report Exported 2 x 5 = 10 points, Login 9 x 1 = 9), now Login x2;
    # the ticket (negative weight) never lifted the score
    assert a["reason"]["events_lost"] == [{"event": "Report Exported", "points_then": 10.0, "points_now": 0.0},
                                          {"event": "Login", "points_then": 9.0, "points_now": 2.0}]
    assert a["reason"]["events_pulling_down"] == [{"event": "Support Ticket Opened", "count": 1, "points": -3.0}]
    assert v.days_in_band(v.rm.index["b"]) == 20  # at_risk at every point since day -20


def test_pql_is_the_reports_rule() -> None:
    assert [r["account"] for r in _views().pql()["accounts"]] == ["d", "c"]  # green/thriving, free/trial


def test_alerts_that_break_the_contract_are_not_kept() -> None:
    good = _alert("a", "yellow", "red", DAY)
    assert check_alert(b"not json") is None and check_alert(None) is None
    assert check_alert({**good, "to": "purple"}) is None
    assert check_alert({**good, "at": "yesterday"}) is None
    assert check_alert({k: v for k, v in good.items() if k != "at_us"})["at_us"] == DAY * DAY_US


def test_account_view_has_history_and_alerts_newest_first() -> None:
    v = _views()
    a = v.account("a")
    assert a is not None and v.account("zzz") is None
    # (indexed string traits live in the trait columns, not in the blob: put back as sent)
    assert a["snapshot"]["traits"] == {"plan": "team", "industry": "retail", "mrr": 500, "csm": "Dana"}
    v.rm.upsert(_snap("g", 1.0, "red", {"plan": "", "industry": 7, "csm": "x" * 300, "tier": "gold"}))
    assert v.rm.get("g").traits == {"plan": "", "industry": 7, "csm": "x" * 300, "tier": "gold"}
    # top events and components are kept compactly (ids, a list): read back as they came
    top = ({"event": "Login", "count": 3, "points": 3.0}, {"event": "Odd", "count": 2, "points": 7.5})
    comps = {"usage": 40.0, "nps": None, "support": 100.0}
    v.rm.upsert(_snap("h", 1.0, "red", {}, top=top, health=Health(70.0, "yellow", comps, "usage", None, None, ())))
    got = v.rm.get("h")
    assert got.top_events == top and got.health is not None and got.health.components == comps
    # seeded trend day (-12, from its first upsert), its points of days -9, -7, -2, today
    assert [h["engagement"] for h in a["history"]] == [50.0, 55.0, 45.0, 30.0, 10.0]
    assert [al["to"] for al in a["alerts"]] == ["red"]
    assert AlertBook().add(_alert("x", None, "red", 1)) and v.alerts.add(_alert("a", "yellow", "red", DAY - 2)) is False


def test_portfolio_is_reused_while_fresh_and_recomputed_when_stale() -> None:
    v = _views()
    first = v.portfolio()
    v.rm.upsert(_snap("f", 95.0, "green", {"plan": "team"}))
    assert v.portfolio() is first  # changed, but younger than max_age: the same answer
    v.max_age = 0.0
    assert v.portfolio()["accounts"] == 6


BANDS = ("at_risk", "red", "yellow", "green", "thriving")


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(-1, 4),
                          st.one_of(st.none(), st.integers(0, 1000)),
                          st.sampled_from([None, "free", "team", ""]), st.floats(-50, 150)),
                min_size=1, max_size=40))
def test_running_totals_equal_a_recount_after_any_updates(ups: list[tuple[Any, ...]]) -> None:
    """The portfolio's totals are kept per upsert; recounted here from the last state of each."""
    rm = ReadModel()
    last: dict[str, tuple[Any, ...]] = {}
    for acct, band, hband, mrr, plan, score in ups:
        traits: dict[str, Any] = {} if plan is None else {"plan": plan}
        if mrr is not None:
            traits["mrr"] = mrr
        h = Health(50.0, None if hband < 0 else BANDS[hband], {"usage": 1.0})
        rm.upsert(_snap(f"a{acct}", score, BANDS[band], traits, health=h))
        last[f"a{acct}"] = (band, hband, mrr, plan, score)
    p = Views(rm, AlertBook(), load_model(None)).portfolio("plan")
    states = list(last.values())
    assert p["engagement_bands"] == {b: sum(1 for s in states if s[0] == k) for k, b in enumerate(BANDS)}
    assert p["mrr_by_band"] is None if all(s[2] is None for s in states) else p["mrr_by_band"]["mrr"] == {
        b: float(sum(s[2] for s in states if s[0] == k and s[2] is not None)) for k, b in enumerate(BANDS)}
    expected_plans: dict[str, list[int]] = {}
    for band, _, _, plan, _ in states:
        expected_plans.setdefault(plan or "(none)", [0] * 5)[band] += 1
    assert p["breakdown"]["rows"] == {v: dict(zip(BANDS, c, strict=True)) for v, c in sorted(expected_plans.items())}
    assert sum(b["count"] for b in p["histogram"]) == len(states)
    assert p["histogram"][0]["count"] == sum(1 for s in states if s[4] < 0)
