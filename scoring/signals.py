"""Signal alerts and each alert's default route and action (docs/semantics.md#signals).

A signal is raised by one accepted event (`event_signals`: NPS detractor or promoter, failed
payment, past due, contraction) or, for onboarding and sharp drops, by an evaluation
(scoring/insight.py), independently of band changes. docs/semantics.md#signals gives each
reason's trigger, default route and suggested action. `ROUTES` holds the default route name and
suggested action per reason, `BAND_ROUTES` per band for band changes (docs/semantics.md#bands).
"""

from __future__ import annotations

from typing import Any

from scoring.health import NPS_EVENT, nps_value
from scoring.model import HealthConfig

PAYMENT_FAILED = "Payment Failed"
PAST_DUE = "Subscription Past Due"

ROUTES: dict[str, tuple[str, str]] = {
    "nps_detractor": ("csm_call", "detractor: high-priority CSM call within 24 h to address the "
                      "problem and prevent churn"),
    "nps_promoter": ("referral_ask", "promoter: ask for a referral or a case study"),
    "payment_failed": ("billing", "billing alert: a payment failed; contact the billing owner"),
    "subscription_past_due": ("billing", "billing alert: the subscription is past due"),
    "contraction": ("csm_immediate", "contraction: contact the account at once; demonstrate "
                    "the feature's full value and explore expansion"),
    "onboarding_stalled": ("guidance", "onboarding stalled: automated guidance (e-mail / in-app) "
                           "toward the next milestone"),
    "sharp_drop": ("csm_review", "sharp drop: review the account before it changes band"),
}
BAND_ROUTES: dict[str, tuple[str, str]] = {
    "at_risk": ("csm_immediate", "churn risk: immediate CSM alert"),
    "red": ("csm_review", "CSM notification for an account review"),
    "yellow": ("guidance", "automated guidance (e-mail / in-app webhook)"),
    "green": ("monitor", "low-touch monitoring, no alert"),
    "thriving": ("expansion", "flag an expansion opportunity"),
}


def route_of(reason: str, to_band: str) -> tuple[str, str]:
    """(default route name, suggested action) of an alert."""
    return ROUTES.get(reason) or BAND_ROUTES[to_band]


def event_signals(cfg: HealthConfig, name: str, props: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The signals one accepted event raises: [(reason, detail)]."""
    sig = cfg.signals
    if name == NPS_EVENT:
        v = nps_value(props)
        if v is None:
            return []
        if v <= sig.nps_detractor_max:
            return [("nps_detractor", {"nps": v})]
        if v >= sig.nps_promoter_min:
            return [("nps_promoter", {"nps": v})]
        return []
    if sig.billing and name == PAYMENT_FAILED:
        return [("payment_failed", {"event": name})]
    if sig.billing and name == PAST_DUE:
        return [("subscription_past_due", {"event": name})]
    if name in sig.contraction:
        delta = props.get("mrr_delta")
        ok = isinstance(delta, int | float) and not isinstance(delta, bool)
        return [("contraction", {"event": name, "mrr_delta": delta if ok else None})]
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
