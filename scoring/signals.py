"""Signal alerts and each alert's default route and action (docs/semantics.md#signals).

A signal is raised by one accepted event (`event_signals`: NPS detractor or promoter, failed
payment, past due, contraction) or, for onboarding and sharp drops, by an evaluation
(scoring/insight.py), independently of band changes. docs/semantics.md#signals gives each
reason's trigger, default route and suggested action. `Reason` names why an alert was raised: a
band change (`band_change` after an event, `sweep` when a re-evaluation without new events moved
the band) or one of the signals (`SIGNALS`). `ROUTES` holds the default route name and suggested
action per signal, `BAND_ROUTES` per band for band changes (docs/semantics.md#bands).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from scoring.bands import Band
from scoring.health import NPS_EVENT, nps_value
from scoring.model import HealthConfig

PAYMENT_FAILED = "Payment Failed"
PAST_DUE = "Subscription Past Due"


class Reason(StrEnum):
    """Why an alert was raised: a band change, or a signal (then `from` == `to`)."""

    BAND_CHANGE = "band_change"
    SWEEP = "sweep"
    NPS_DETRACTOR = "nps_detractor"
    NPS_PROMOTER = "nps_promoter"
    PAYMENT_FAILED = "payment_failed"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    CONTRACTION = "contraction"
    ONBOARDING_STALLED = "onboarding_stalled"
    SHARP_DROP = "sharp_drop"

    @property
    def is_signal(self) -> bool:
        return self not in (Reason.BAND_CHANGE, Reason.SWEEP)

    @property
    def label(self) -> str:
        """A short human description (what a notification says)."""
        return _LABELS[self]


SIGNALS: tuple[Reason, ...] = tuple(r for r in Reason if r.is_signal)
_LABELS: dict[Reason, str] = {
    Reason.BAND_CHANGE: "band change after new events",
    Reason.SWEEP: "periodic re-evaluation (score decayed without new events)",
    Reason.NPS_DETRACTOR: "signal: NPS detractor",
    Reason.NPS_PROMOTER: "signal: NPS promoter",
    Reason.PAYMENT_FAILED: "signal: payment failed",
    Reason.SUBSCRIPTION_PAST_DUE: "signal: subscription past due",
    Reason.CONTRACTION: "signal: contraction",
    Reason.ONBOARDING_STALLED: "signal: onboarding stalled",
    Reason.SHARP_DROP: "signal: sharp score drop",
}

ROUTES: dict[Reason, tuple[str, str]] = {
    Reason.NPS_DETRACTOR: ("csm_call", "detractor: high-priority CSM call within 24 h to address "
                           "the problem and prevent churn"),
    Reason.NPS_PROMOTER: ("referral_ask", "promoter: ask for a referral or a case study"),
    Reason.PAYMENT_FAILED: ("billing", "billing alert: a payment failed; contact the billing owner"),
    Reason.SUBSCRIPTION_PAST_DUE: ("billing", "billing alert: the subscription is past due"),
    Reason.CONTRACTION: ("csm_immediate", "contraction: contact the account at once; demonstrate "
                         "the feature's full value and explore expansion"),
    Reason.ONBOARDING_STALLED: ("guidance", "onboarding stalled: automated guidance (e-mail / "
                                "in-app) toward the next milestone"),
    Reason.SHARP_DROP: ("csm_review", "sharp drop: review the account before it changes band"),
}
BAND_ROUTES: dict[Band, tuple[str, str]] = {
    Band.AT_RISK: ("csm_immediate", "churn risk: immediate CSM alert"),
    Band.RED: ("csm_review", "CSM notification for an account review"),
    Band.YELLOW: ("guidance", "automated guidance (e-mail / in-app webhook)"),
    Band.GREEN: ("monitor", "low-touch monitoring, no alert"),
    Band.THRIVING: ("expansion", "flag an expansion opportunity"),
}

ROUTE_NAMES: frozenset[str] = frozenset(r for r, _ in (*ROUTES.values(), *BAND_ROUTES.values()))


def route_of(reason: Reason, to_band: Band) -> tuple[str, str]:
    """(default route name, suggested action) of an alert: its signal's, else its band's."""
    return ROUTES.get(reason) or BAND_ROUTES[to_band]


def event_signals(cfg: HealthConfig, name: str, props: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The signals one accepted event raises: [(reason, detail)]."""
    sig = cfg.signals
    if name == NPS_EVENT:
        v = nps_value(props)
        if v is None:
            return []
        if v <= sig.nps_detractor_max:
            return [(Reason.NPS_DETRACTOR, {"nps": v})]
        if v >= sig.nps_promoter_min:
            return [(Reason.NPS_PROMOTER, {"nps": v})]
        return []
    if sig.billing and name == PAYMENT_FAILED:
        return [(Reason.PAYMENT_FAILED, {"event": name})]
    if sig.billing and name == PAST_DUE:
        return [(Reason.SUBSCRIPTION_PAST_DUE, {"event": name})]
    if name in sig.contraction:
        delta = props.get("mrr_delta")
        ok = isinstance(delta, int | float) and not isinstance(delta, bool)
        return [(Reason.CONTRACTION, {"event": name, "mrr_delta": delta if ok else None})]
    return []


def onboarding_stalled(cfg: HealthConfig, first_ts: int | None, reached: dict[str, int],
                       clock_us: int) -> bool:
    """No milestone reached `stall_days` (or more) after the account's first event."""
    if not cfg.milestones or cfg.stall_days <= 0 or first_ts is None or reached:
        return False
    return clock_us >= stall_deadline(cfg, first_ts)


def stall_deadline(cfg: HealthConfig, first_ts: int) -> int:
    """The time at which an account with no milestone reached counts as stalled."""
    return first_ts + int(cfg.stall_days * 86400 * 1_000_000)
