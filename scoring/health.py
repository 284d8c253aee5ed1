"""The Customer Health Score (CHS): components scored 0..100, combined by weight.

Components (the model's `[health]` table chooses which, with weights that sum to 1):

| component  | value                                                                  | no data yet |
|------------|------------------------------------------------------------------------|-------------|
| usage      | the engagement score clamped to 0..100                                 | never       |
| nps        | latest `NPS Submitted` `properties.score` (0..10) x 10                 | no NPS yet  |
| support    | 100 - ticket_penalty x `Support Ticket Opened` in the window, floor 0  | never       |
| billing    | the value of the latest billing event (`Invoice Paid` 100, ...)        | none yet    |
| onboarding | 100 x milestones reached / milestones in the checklist                 | never       |

Besides the components, the state keeps the account's MRR from subscription events
(`observe_mrr`, with the revenue ledger's rules) for readers such as the dashboard; it does not
enter the score.

The rules (re-distribution of a component with no data yet, "latest" by event time, tickets in
the window, onboarding, when health is evaluated, rounding) are in docs/semantics.md#health.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from scoring.model import HEALTH_COMPONENTS, HealthConfig
from scoring.revenue import SUBSCRIPTION_EVENTS, mrr_after, mrr_move

NPS_EVENT = "NPS Submitted"
TICKET_EVENT = "Support Ticket Opened"
HEALTH_DIGITS = 9  # the health score is rounded to this many decimals
MAX_TICKET_SUBJECTS = 10  # the most recent subjects of tickets in the window, for alerts


@dataclass(slots=True)
class HealthState:
    """One account's health inputs besides the engagement score and the window counts."""

    band: int | None = None
    first_ts: int | None = None
    nps: list[Any] | None = None  # [ts, score 0..10]
    billing: list[Any] | None = None  # [ts, event name]
    reached: dict[str, int] = field(default_factory=dict)  # milestone -> first time reached
    tickets: list[list[Any]] = field(default_factory=list)  # [[ts, subject], ...] by ts
    mrr: list[Any] | None = None  # [value, anchored 0/1] from subscription events (observe_mrr)

    def dump(self) -> list[Any]:
        out = [self.band, self.first_ts, self.nps, self.billing, self.reached, self.tickets]
        if self.mrr is not None:  # (absent in a dump made before any subscription event)
            out.append(self.mrr)
        return out

    @classmethod
    def load(cls, data: list[Any]) -> HealthState:
        band, first, nps, billing, reached, tickets = data[:6]
        return cls(band, first, nps, billing, dict(reached), [list(t) for t in tickets],
                   list(data[6]) if len(data) > 6 else None)


def observe_mrr(st: HealthState, name: str, props: dict[str, Any]) -> None:
    """Fold one subscription event into the account's MRR (`scoring.revenue.mrr_move` /
    `mrr_after`, the revenue ledger's rules, applied in the order events are accepted). Until an
    event gives the MRR itself (`Subscription Started`, `Subscription Canceled`, or `mrr` after
    a change), `st.mrr` is [net sum of the `mrr_delta` movements, 0]: the MRR they apply to is
    not known here (it may be the account's `mrr` trait; `scoring.revenue.account_mrr`)."""
    move = mrr_move(name, props)
    if isinstance(move, str):
        return  # no usable amount: moves nothing (the ledger counts it as skipped)
    kind, amount = move
    value, anchored = (0.0, 0) if st.mrr is None else (float(st.mrr[0]), int(st.mrr[1]))
    if anchored or kind in ("set", "cancel"):
        st.mrr = [mrr_after(value, kind, amount), 1]
    else:
        st.mrr = [value + amount if kind == "up" else value - amount, 0]


def nps_value(props: dict[str, Any]) -> float | None:
    """`properties.score` of an NPS response if it is a number within 0..10."""
    s = props.get("score")
    if isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s <= 10:
        return None
    return float(s)


def observe(st: HealthState, cfg: HealthConfig, name: str, ts: int,
            props: dict[str, Any]) -> None:
    """Fold one accepted event into the health inputs."""
    if st.first_ts is None or ts < st.first_ts:
        st.first_ts = ts
    if name == NPS_EVENT:
        v = nps_value(props)
        if v is not None and (st.nps is None or ts >= st.nps[0]):
            st.nps = [ts, v]
    elif name in cfg.billing:
        if st.billing is None or ts >= st.billing[0]:
            st.billing = [ts, name]
    elif name == TICKET_EVENT:
        subject = props.get("subject")
        insort(st.tickets, [ts, subject if isinstance(subject, str) else None],
               key=lambda t: t[0])
        if len(st.tickets) > MAX_TICKET_SUBJECTS:
            del st.tickets[0]
    if name in SUBSCRIPTION_EVENTS:
        observe_mrr(st, name, props)
    if name in cfg.milestones:
        seen = st.reached.get(name)
        if seen is None or ts < seen:
            st.reached[name] = ts


def prune_tickets(st: HealthState, cut: int, bucket_us: int) -> None:
    """Forget ticket subjects whose bucket is <= `cut` (out of the window)."""
    t = st.tickets
    while t and t[0][0] // bucket_us <= cut:
        del t[0]


def components(st: HealthState, cfg: HealthConfig, engagement: float,
               tickets: int) -> dict[str, float | None]:
    """Each configured component's value 0..100, or None when it has no data yet."""
    out: dict[str, float | None] = {}
    for comp in HEALTH_COMPONENTS:
        if comp not in cfg.weights:
            continue
        v: float | None
        if comp == "usage":
            v = min(max(engagement, 0.0), 100.0)
        elif comp == "nps":
            v = None if st.nps is None else st.nps[1] * 10.0
        elif comp == "support":
            v = max(0.0, 100.0 - cfg.ticket_penalty * tickets)
        elif comp == "billing":
            v = None if st.billing is None else cfg.billing[st.billing[1]]
        else:
            v = 100.0 * sum(1 for m in cfg.milestones if m in st.reached) / len(cfg.milestones)
        out[comp] = v
    return out


def effective_weights(comps: dict[str, float | None],
                      weights: dict[str, float]) -> dict[str, float]:
    """The weights after re-distribution: components with data, scaled to sum to 1."""
    present = {c: weights[c] for c, v in comps.items() if v is not None and weights[c] > 0}
    total = sum(present.values())
    if total <= 0:
        return {}
    return {c: w / total for c, w in present.items()}


def combine(comps: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """sum(w_i x c_i) / sum(w_i) over components with data, rounded to `HEALTH_DIGITS` decimals
    (float noise such as 33.99999999999999 for (0.4 x 1 + 0.2 x 100) / (0.4 + 0.2) neither
    shows in alerts nor can put a score that is exactly on a band edge across it); None when
    none has data."""
    num = den = 0.0
    for c, v in comps.items():
        w = weights[c]
        if v is not None and w > 0:
            num += w * v
            den += w
    return None if den <= 0 else round(num / den, HEALTH_DIGITS)


def weakest(comps: dict[str, float | None], weights: dict[str, float]) -> str | None:
    """The lowest component with data and a positive weight (first in component order on a tie)."""
    best: tuple[float, str] | None = None
    for c, v in comps.items():
        if v is not None and weights[c] > 0 and (best is None or v < best[0]):
            best = (v, c)
    return None if best is None else best[1]


def time_to_aha_us(st: HealthState, cfg: HealthConfig) -> int | None:
    if cfg.aha is None or st.first_ts is None:
        return None
    at = st.reached.get(cfg.aha)
    return None if at is None else at - st.first_ts
