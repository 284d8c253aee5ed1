"""RevenueLedger KPIs on hand-written billing events; every expected number is worked out by hand
in the comments (never by the code under test)."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.revenue import RevenueKPIs, RevenueLedger
from scoring.timefmt import parse_iso_us

TOL = 1e-9


def ts(day: str, time: str = "00:00:00") -> int:
    us = parse_iso_us(f"{day}T{time}Z")
    assert us is not None
    return us


def ev(led: RevenueLedger, account: str, name: str, day: str, props: dict[str, Any] | None = None,
       mid: str | None = None) -> bool:
    return led.add_event(account, name, ts(day, "12:00:00"), props or {}, mid)


def book() -> RevenueLedger:
    """Seven accounts. Before November: a1 100, a2 200, a3 300 (Subscription Started in October)."""
    led = RevenueLedger()
    ev(led, "a1", "Subscription Started", "2026-10-05", {"mrr": 100})
    ev(led, "a2", "Subscription Started", "2026-10-01", {"mrr": 200})
    ev(led, "a3", "Subscription Started", "2026-10-02", {"mrr": 300})
    # a4: no billing events; its group call's mrr trait is opening MRR (a CRM snapshot): 50
    led.add_traits("a4", {"plan": "team", "mrr": 50}, ts("2026-11-03"))
    # a1: +50 at exactly 2026-11-10T00:00:00 (a period starting then includes it); the retry is a duplicate
    assert led.add_event("a1", "Subscription Upgraded", ts("2026-11-10"), {"mrr_delta": 50}, "up-1")
    assert not led.add_event("a1", "Subscription Upgraded", ts("2026-11-10"), {"mrr_delta": 50}, "up-1")
    ev(led, "a2", "Subscription Downgraded", "2026-11-12", {"mrr_delta": -40})  # contraction 40
    ev(led, "a2", "Add-on Canceled", "2026-11-20", {"mrr_delta": 10})  # sign ignored: contraction 10
    ev(led, "a3", "Subscription Canceled", "2026-11-15")  # churns 300
    assert not ev(led, "a3", "Subscription Upgraded", "2026-11-16", {"mrr_delta": "lots"})  # bad_mrr
    assert not ev(led, "a3", "Subscription Started", "2026-11-17", {"plan": "team"})  # missing_mrr
    ev(led, "a5", "Trial Started", "2026-11-02")  # trial marker
    ev(led, "a5", "Subscription Started", "2026-11-09", {"mrr": 80})  # new 80, a converted trial
    led.add_traits("a6", {"plan": "Free"}, ts("2026-11-04"))  # trial marker, never pays
    ev(led, "a7", "Subscription Started", "2026-11-05", {"mrr": 60})  # new 60
    ev(led, "a7", "Subscription Upgraded", "2026-11-06", {"mrr_delta": 20})  # expansion 20 (not cohort)
    ev(led, "a7", "Subscription Canceled", "2026-11-28")  # churns 80 (not a cohort account)
    ev(led, "a8", "Subscription Started", "2026-12-05", {"mrr": 40})  # after every period below
    assert not ev(led, "a8", "Login", "2026-11-05")  # not a billing event
    return led


def close(k: RevenueKPIs, **expected: float | int | None) -> None:
    for key, want in expected.items():
        got = getattr(k, key)
        if want is None or isinstance(want, int):
            assert got == want, key
        else:
            assert got == pytest.approx(want, abs=TOL), key


def test_november_30_days() -> None:
    k = book().kpis(ts("2026-11-01"), ts("2026-12-01"))
    # start: a1 100 + a2 200 + a3 300 + a4 50 (opening) = 650; cohort a1..a4 (4 accounts)
    # new: a5 80 + a7 60 = 140; expansion: a1 50 + a7 20 = 70 (cohort 50)
    # contraction: a2 40 + 10 = 50 (cohort 50); churned: a3 300 + a7 80 = 380 (cohort 300)
    # end: a1 150 + a2 150 + a4 50 + a5 80 = 430 = 650 + 140 + 70 - 50 - 380 (the bridge)
    # churn rate 1/4 = 0.25; 30 days: monthly 0.25
    # GRR (650 - 50 - 300) / 650 = 300/650; NRR (650 + 50 - 50 - 300) / 650 = 350/650
    # ARPA 430 / 4 = 107.5; LTV 107.5 / 0.25 = 430; trials a5, a6: 1 of 2 converted
    close(k, days=30.0, start_mrr=650.0, end_mrr=430.0, new_mrr=140.0, expansion_mrr=70.0,
          contraction_mrr=50.0, churned_mrr=380.0, accounts_at_start=4, paying_accounts_at_end=4,
          churned_accounts=1, churn_rate=0.25, monthly_churn_rate=0.25, grr=300 / 650,
          nrr=350 / 650, arpa=107.5, ltv=430.0, trial_accounts=2, converted_trials=1,
          trial_to_paid=0.5)
    assert k.skipped == {"bad_mrr": 1, "duplicate": 1, "missing_mrr": 1}


def test_fifteen_days_normalise_the_churn_rate_to_30() -> None:
    k = book().kpis(ts("2026-11-01"), ts("2026-11-16"))
    # in the period: a1 +50, a2 -40, a3 churns 300, a5 new 80, a7 new 60 and +20
    # end: a1 150 + a2 160 + a4 50 + a5 80 + a7 80 = 520 over 5 paying accounts: ARPA 104
    # churn 1/4 = 0.25 over 15 days: monthly 0.25 * 30 / 15 = 0.5; LTV 104 / 0.5 = 208
    # GRR (650 - 40 - 300) / 650 = 310/650; NRR (650 + 50 - 40 - 300) / 650 = 360/650
    close(k, days=15.0, start_mrr=650.0, end_mrr=520.0, new_mrr=140.0, expansion_mrr=70.0,
          contraction_mrr=40.0, churned_mrr=300.0, churned_accounts=1, churn_rate=0.25,
          monthly_churn_rate=0.5, grr=310 / 650, nrr=360 / 650, arpa=104.0, ltv=208.0,
          trial_accounts=2, converted_trials=1, trial_to_paid=0.5)


def test_a_period_starting_at_an_event_includes_it() -> None:
    k = book().kpis(ts("2026-11-10"), ts("2026-12-01"))
    # start (before 11-10 00:00): a1 100, a2 200, a3 300, a4 50, a5 80, a7 80 = 810, 6 accounts
    # in: a1 +50 (at the start instant), a2 -50, a3 churns 300, a7 churns 80 -> 2 churned
    # churn 2/6 = 1/3 over 21 days: monthly (1/3) * 30 / 21 = 10/21
    # GRR (810 - 50 - 380) / 810 = 380/810; NRR (380 + 50) / 810 = 430/810
    # end 430 over 4 accounts: ARPA 107.5; LTV 107.5 / (10/21) = 225.75; no trial started in the period
    close(k, days=21.0, start_mrr=810.0, end_mrr=430.0, new_mrr=0.0, expansion_mrr=50.0,
          contraction_mrr=50.0, churned_mrr=380.0, accounts_at_start=6, churned_accounts=2,
          churn_rate=1 / 3, monthly_churn_rate=10 / 21, grr=380 / 810, nrr=430 / 810, arpa=107.5,
          ltv=225.75, trial_accounts=0, converted_trials=0, trial_to_paid=None)


def test_zero_start_mrr_and_zero_churn_leave_the_ratios_undefined() -> None:
    led = RevenueLedger()
    ev(led, "n1", "Subscription Started", "2026-11-02", {"mrr": 30})
    ev(led, "n2", "Subscription Started", "2026-11-03", {"mrr": 50.5})
    k = led.kpis(ts("2026-11-01"), ts("2026-12-01"))
    # nobody paid at the start: no cohort -> churn, GRR, NRR undefined; ARPA (30 + 50.5) / 2 = 40.25
    close(k, start_mrr=0.0, new_mrr=80.5, end_mrr=80.5, accounts_at_start=0, churn_rate=None,
          monthly_churn_rate=None, grr=None, nrr=None, arpa=40.25, ltv=None)
    # same book seen from December: 2 paying at the start, no churn -> monthly churn 0, LTV None
    k = led.kpis(ts("2026-12-01"), ts("2026-12-31"))
    close(k, start_mrr=80.5, accounts_at_start=2, churn_rate=0.0, monthly_churn_rate=0.0,
          grr=1.0, nrr=1.0, arpa=40.25, ltv=None)


def test_bad_values_are_skipped_and_counted_never_raised() -> None:
    led = RevenueLedger()
    for i, bad in enumerate((True, "49", -5, [1], {"v": 1})):
        assert not ev(led, f"b{i}", "Subscription Started", "2026-11-02", {"mrr": bad})
    assert not ev(led, "b9", "Subscription Started", "2026-11-02", {"mrr": None})
    assert not ev(led, "b9", "Subscription Downgraded", "2026-11-02", {"mrr_delta": False})
    led.add_traits("b7", {"mrr": "a lot"}, ts("2026-11-01"))
    led.add_traits("b8", {"mrr": None, "plan": 7}, ts("2026-11-01"))  # absent mrr, odd plan: ignored
    k = led.kpis(ts("2026-11-01"), ts("2026-12-01"))
    # 5 bad mrr, 1 missing mrr (None is absent), 1 bad delta (False is not a number), 1 bad trait
    assert k.skipped == {"bad_mrr": 6, "bad_trait_mrr": 1, "missing_mrr": 1}
    close(k, start_mrr=0.0, end_mrr=0.0, new_mrr=0.0, arpa=None, trial_accounts=0)


def test_cancel_of_a_trial_clamped_contraction_restart_and_reactivation() -> None:
    led = RevenueLedger()
    ev(led, "t", "Trial Started", "2026-10-20")
    ev(led, "t", "Subscription Canceled", "2026-11-02")  # MRR 0: no churn, no movement
    ev(led, "c", "Subscription Started", "2026-10-01", {"mrr": 100})
    ev(led, "c", "Subscription Downgraded", "2026-11-03", {"mrr_delta": -150})  # at most 100
    ev(led, "s", "Subscription Started", "2026-10-01", {"mrr": 100})
    ev(led, "s", "Subscription Started", "2026-11-04", {"mrr": 130})  # already paying: +30 expansion
    ev(led, "r", "Subscription Started", "2026-10-01", {"mrr": 40})
    ev(led, "r", "Subscription Canceled", "2026-11-05")  # churns 40
    ev(led, "r", "Subscription Started", "2026-11-06", {"mrr": 45})  # reactivation: new 45
    ev(led, "x", "Subscription Upgraded", "2026-11-07", {"mrr": 25})  # mrr instead of delta: new 25
    k = led.kpis(ts("2026-11-01"), ts("2026-12-01"))
    # start: c 100 + s 100 + r 40 = 240 (t, x not paying)
    # contraction 100 (clamped), expansion 30, churned 40 (r, 1 account), new 45 + 25 = 70
    # end: c 0 + s 130 + r 45 + x 25 = 200 = 240 + 70 + 30 - 100 - 40
    # GRR (240 - 100 - 40) / 240 = 100/240; NRR (100 + 30) / 240 = 130/240 (r's return is new MRR)
    # churn 1/3 over 30 days; ARPA 200 / 3; LTV (200/3) / (1/3) = 200
    close(k, start_mrr=240.0, end_mrr=200.0, contraction_mrr=100.0, expansion_mrr=30.0,
          churned_mrr=40.0, new_mrr=70.0, accounts_at_start=3, churned_accounts=1,
          grr=100 / 240, nrr=130 / 240, churn_rate=1 / 3, monthly_churn_rate=1 / 3,
          paying_accounts_at_end=3, arpa=200 / 3, ltv=200.0)


def test_an_mrr_trait_after_the_first_billing_event_is_not_opening_mrr() -> None:
    led = RevenueLedger()
    ev(led, "a", "Subscription Started", "2026-11-05", {"mrr": 10})
    led.add_traits("a", {"mrr": 999}, ts("2026-11-06"))  # later CRM sync: ignored
    led.add_traits("b", {"mrr": 20}, ts("2026-11-20"))  # b has no billing events: opening 20
    led.add_traits("b", {"mrr": 70}, ts("2026-11-21"))  # not its earliest mrr trait: ignored
    k = led.kpis(ts("2026-11-01"), ts("2026-12-01"))
    # start: b 20; new: a 10; end 30
    close(k, start_mrr=20.0, new_mrr=10.0, end_mrr=30.0, accounts_at_start=1, grr=1.0, nrr=1.0)


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        RevenueLedger().kpis(ts("2026-11-02"), ts("2026-11-01"))
