"""Revenue KPIs from billing events: an MRR ledger per account (pure, no clock).

`RevenueLedger` is fed billing `track` events (`add_event`) and account traits
from `group` calls (`add_traits`) in any order; `kpis(start_us, end_us)` sorts
them by event time (ties: arrival order) and computes the KPIs of the period
[start_us, end_us] (both ends included; its length in days is
(end_us - start_us) / 86400 s).

MRR movements (the account's MRR never goes below 0):

- `Subscription Started` (`properties.mrr` >= 0): the account's MRR becomes
  `mrr`; on an account already paying, the difference is expansion or
  contraction.
- Any movement that takes an account from 0 to > 0 is **new** MRR (a
  reactivation after a cancel is new MRR too).
- `Subscription Upgraded` (`mrr_delta`): **expansion** of |mrr_delta|.
- `Subscription Downgraded`, `Add-on Canceled` (`mrr_delta`): **contraction**
  of |mrr_delta| (senders differ on the sign; the event name gives the
  direction), at most the account's MRR.
  These three also accept `properties.mrr` (the MRR after the change) instead
  of `mrr_delta`: the difference to the current MRR is then the movement.
- `Subscription Canceled`: **churned** MRR = the account's MRR, which becomes 0.
  A cancel of an account with MRR 0 (a trial) moves nothing.
- Opening MRR: the `mrr` trait of an account's earliest `group` call carrying
  one, if that call is earlier than the account's first billing event, is MRR
  the account already had before the file (a CRM snapshot): it counts in the
  MRR at the start of every period. Later `mrr` traits are ignored: billing
  events are the only movements. So, exactly,
  start MRR + new + expansion - contraction - churned = end MRR.

KPIs (summarised in docs/semantics.md#revenue):

- accounts at start: accounts with MRR > 0 just before the period starts
  (events at `start_us` are in the period). They are the retention cohort.
- churned accounts: cohort accounts whose MRR a `Subscription Canceled` in the
  period set to 0 (counted once, even if they come back).
- churn rate = churned accounts / accounts at start (customers lost in the
  period / customers at the start of the period);
  monthly churn rate = churn rate x 30 / period days (linear, not compounded;
  the rate itself when the period is 30 days). None when there are no
  accounts at start or the period has no length.
- GRR = (start MRR - cohort contraction - cohort churned) / start MRR;
  NRR = (start MRR + cohort expansion - cohort contraction - cohort churned) /
  start MRR, where "cohort" movements are those of the accounts at start (new
  accounts' movements and reactivations are left out, as retention is about
  existing customers). None when start MRR is 0.
- expansion / contraction / new / churned MRR: the movements of all accounts
  in the period (the MRR bridge above).
- ARPA = MRR at the end / accounts with MRR > 0 at the end (None if none).
- LTV = ARPA / monthly churn rate (average revenue per account / churn
  rate); None when the monthly churn rate is 0 or None (no churn:
  the lifetime is unbounded, not a number).
- trial-to-paid conversion: trial accounts are accounts whose first trial
  marker falls in the period; a marker is a `Trial Started` event or a `group`
  call with `traits.plan` "trial" or "free" (any case). A trial account
  converted if its MRR went from 0 to > 0 (new MRR) at or after its first
  marker and by the period end. Rate = converted / trial accounts; None when
  there are no trial accounts.

Bad values never raise. Skipped and counted in `skipped`: a billing event
whose amount is absent (`missing_mrr`) or not a usable number (`bad_mrr`: a
bool or a numeric string is not a number; `mrr` must be >= 0); a repeated
(account, messageId) of a billing event (`duplicate`, remembered for the whole
run, unlike the scorer's window-bounded memory); a `group` `mrr` trait that is
not a number >= 0 (`bad_trait_mrr`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from scoring.timefmt import US_PER_SECOND

STARTED, UPGRADED, DOWNGRADED = "Subscription Started", "Subscription Upgraded", "Subscription Downgraded"
ADDON_CANCELED, CANCELED, TRIAL_STARTED = "Add-on Canceled", "Subscription Canceled", "Trial Started"
SUBSCRIPTION_EVENTS = frozenset({STARTED, UPGRADED, DOWNGRADED, ADDON_CANCELED, CANCELED})  # move MRR
BILLING_EVENTS = SUBSCRIPTION_EVENTS | {TRIAL_STARTED}
TRIAL_PLANS = frozenset({"trial", "free"})
PQL_BANDS = ("green", "thriving")
_DAY_US = 86400 * US_PER_SECOND


def is_pql(plan: Any, band: str | None) -> bool:
    """A product-qualified lead (docs/semantics.md#report): an account on a free or trial plan
    (the `plan` trait, any case) whose engagement band is green or thriving."""
    return band in PQL_BANDS and isinstance(plan, str) and plan.lower() in TRIAL_PLANS


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def mrr_move(name: str, properties: Mapping[str, Any]) -> tuple[str, float] | str:
    """The MRR movement of one subscription event (`SUBSCRIPTION_EVENTS`): (kind, amount) with
    kind "set" (the new MRR), "up" / "down" (amounts) or "cancel"; or, for an event whose amount
    is absent or unusable, the reason it is skipped ("missing_mrr", "bad_mrr")."""
    if name == CANCELED:
        return ("cancel", 0.0)
    mrr = _number(properties.get("mrr"))
    delta = None if name == STARTED else _number(properties.get("mrr_delta"))
    if delta is not None:
        return ("up" if name == UPGRADED else "down", abs(delta))
    if mrr is None or mrr < 0:
        given = any(properties.get(k) is not None for k in ("mrr", "mrr_delta"))
        return "bad_mrr" if given else "missing_mrr"
    return ("set", mrr)


def mrr_after(prev: float, kind: str, amount: float) -> float:
    """The account's MRR after a movement (`mrr_move`) from `prev`; never below 0."""
    if kind == "set":
        return amount
    if kind == "up":
        return prev + amount
    if kind == "down":
        return prev - min(amount, prev)
    return 0.0  # cancel


def account_mrr(billing: list[Any] | None, trait: Any) -> tuple[float | None, str | None]:
    """(MRR, source) of one account from the MRR its scoring state kept from subscription events
    (`HealthState.mrr`: [value, anchored], scoring/health.py) and its `mrr` trait.

    - anchored (a `Subscription Started`, a `Subscription Canceled` or an event giving the MRR
      after the change was seen): the state's value, source "billing";
    - only relative movements seen (`mrr_delta`): the trait (0 without one) plus their net sum,
      floored at 0, source "billing+trait" (or "billing" without a trait);
    - no subscription event: the trait, source "trait"; (None, None) without one either.
    """
    t = _number(trait)
    if t is not None and t < 0:
        t = None
    if billing is None:
        return (None, None) if t is None else (t, "trait")
    value, anchored = float(billing[0]), bool(billing[1])
    if anchored:
        return value, "billing"
    if t is None:
        return max(0.0, value), "billing"
    return max(0.0, t + value), "billing+trait"


@dataclass(frozen=True, slots=True)
class _Move:
    ts_us: int
    seq: int
    account: str
    kind: str  # "set" (new MRR value), "up", "down" (amounts), "cancel"
    amount: float


@dataclass(frozen=True, slots=True)
class RevenueKPIs:
    """The KPIs of one period; see the module docstring for each definition."""

    start_us: int
    end_us: int
    days: float
    start_mrr: float
    end_mrr: float
    new_mrr: float
    expansion_mrr: float
    contraction_mrr: float
    churned_mrr: float
    accounts_at_start: int
    paying_accounts_at_end: int
    churned_accounts: int
    churn_rate: float | None
    monthly_churn_rate: float | None
    grr: float | None
    nrr: float | None
    arpa: float | None
    ltv: float | None
    trial_accounts: int
    converted_trials: int
    trial_to_paid: float | None
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Period:
    """Running sums while the ledger walks one period."""

    new: float = 0.0
    expansion: float = 0.0
    contraction: float = 0.0
    churned: float = 0.0
    cohort_expansion: float = 0.0
    cohort_contraction: float = 0.0
    cohort_churned: float = 0.0
    churned_accounts: set[str] = field(default_factory=set)
    started_paying: dict[str, int] = field(default_factory=dict)  # account -> first 0 -> >0 in period


class RevenueLedger:
    """Billing events and account traits in; `kpis(start_us, end_us)` out."""

    def __init__(self) -> None:
        self._moves: list[_Move] = []
        self._openings: dict[str, tuple[int, int, float]] = {}  # account -> earliest (ts, seq, mrr)
        self._trial_marks: dict[str, int] = {}  # account -> earliest trial marker time
        self._seen: set[tuple[str, str]] = set()
        self._seq = 0
        self.skipped: dict[str, int] = {}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _mark_trial(self, account: str, ts_us: int) -> None:
        if ts_us < self._trial_marks.get(account, ts_us + 1):
            self._trial_marks[account] = ts_us

    def add_event(self, account: str, name: str, ts_us: int, properties: Mapping[str, Any],
                  message_id: str | None = None) -> bool:
        """Record one billing event; False when it is not one or is skipped (see `skipped`)."""
        if name not in BILLING_EVENTS:
            return False
        if message_id is not None:
            if (account, message_id) in self._seen:
                self._skip("duplicate")
                return False
            self._seen.add((account, message_id))
        self._seq += 1
        if name == TRIAL_STARTED:
            self._mark_trial(account, ts_us)
            return True
        move = mrr_move(name, properties)
        if isinstance(move, str):
            self._skip(move)
            return False
        self._moves.append(_Move(ts_us, self._seq, account, move[0], move[1]))
        return True

    def add_traits(self, account: str, traits: Mapping[str, Any], ts_us: int) -> None:
        """Account traits of one `group` call: a trial/free `plan`, an opening `mrr`."""
        self._seq += 1
        plan = traits.get("plan")
        if isinstance(plan, str) and plan.lower() in TRIAL_PLANS:
            self._mark_trial(account, ts_us)
        if "mrr" not in traits or traits["mrr"] is None:
            return
        mrr = _number(traits["mrr"])
        if mrr is None or mrr < 0:
            self._skip("bad_trait_mrr")
            return
        current = self._openings.get(account)
        if current is None or (ts_us, self._seq) < current[:2]:
            self._openings[account] = (ts_us, self._seq, mrr)

    def _opening_mrr(self, moves: list[_Move]) -> dict[str, float]:
        first: dict[str, tuple[int, int]] = {}
        for m in moves:
            first.setdefault(m.account, (m.ts_us, m.seq))
        return {a: o[2] for a, o in self._openings.items()
                if a not in first or o[:2] < first[a]}

    def kpis(self, start_us: int, end_us: int) -> RevenueKPIs:
        """The KPIs of the period [start_us, end_us]."""
        if end_us < start_us:
            raise ValueError("the period ends before it starts")
        moves = sorted(self._moves, key=lambda m: (m.ts_us, m.seq))
        mrr = self._opening_mrr(moves)
        p = _Period()
        cohort: dict[str, float] | None = None
        for m in moves:
            if m.ts_us > end_us:
                break
            if cohort is None and m.ts_us >= start_us:
                cohort = {a: v for a, v in mrr.items() if v > 0}
            _apply(m, mrr, p, cohort)
        if cohort is None:
            cohort = {a: v for a, v in mrr.items() if v > 0}
        return self._summarise(start_us, end_us, mrr, cohort, p)

    def _summarise(self, start_us: int, end_us: int, mrr: dict[str, float],
                   cohort: dict[str, float], p: _Period) -> RevenueKPIs:
        days = (end_us - start_us) / _DAY_US
        start_mrr = sum(cohort[a] for a in sorted(cohort))
        paying = sorted(a for a, v in mrr.items() if v > 0)
        end_mrr = sum(mrr[a] for a in paying)
        churn_rate = monthly = grr = nrr = arpa = ltv = None
        if cohort:
            churn_rate = len(p.churned_accounts) / len(cohort)
            if days > 0:
                monthly = churn_rate * 30.0 / days
        if start_mrr > 0:
            kept = start_mrr - p.cohort_contraction - p.cohort_churned
            grr = kept / start_mrr
            nrr = (kept + p.cohort_expansion) / start_mrr
        if paying:
            arpa = end_mrr / len(paying)
        if arpa is not None and monthly:
            ltv = arpa / monthly
        trials = {a for a, t in self._trial_marks.items() if start_us <= t <= end_us}
        converted = {a for a in trials
                     if a in p.started_paying and p.started_paying[a] >= self._trial_marks[a]}
        return RevenueKPIs(
            start_us, end_us, days, start_mrr, end_mrr, p.new, p.expansion, p.contraction,
            p.churned, len(cohort), len(paying), len(p.churned_accounts), churn_rate, monthly,
            grr, nrr, arpa, ltv, len(trials), len(converted),
            len(converted) / len(trials) if trials else None, dict(sorted(self.skipped.items())))


def _apply(m: _Move, mrr: dict[str, float], p: _Period, cohort: dict[str, float] | None) -> None:
    """Apply one movement to `mrr`; inside the period (`cohort` known) also count it in `p`."""
    prev = mrr.get(m.account, 0.0)
    new_value = mrr[m.account] = mrr_after(prev, m.kind, m.amount)
    change = (m.amount if m.kind == "up" else -min(m.amount, prev) if m.kind == "down"
              else new_value - prev)
    if cohort is None or change == 0:
        return
    in_cohort = m.account in cohort
    if m.kind == "cancel":
        p.churned += prev
        if in_cohort:
            p.cohort_churned += prev
            p.churned_accounts.add(m.account)
        return
    if prev == 0:  # 0 -> paying: new MRR
        p.new += change
        p.started_paying.setdefault(m.account, m.ts_us)
    elif change > 0:
        p.expansion += change
        if in_cohort:
            p.cohort_expansion += change
    else:
        p.contraction -= change
        if in_cohort:
            p.cohort_contraction -= change
