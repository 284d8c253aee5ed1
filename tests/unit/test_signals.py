"""Signal alerts (docs/semantics.md#signals), on hand-written events; expectations computed by hand.

Model `MODEL` unless said otherwise: `Login` weighs 10, everything else 0; health weights usage
0.4, nps 0.1, support 0.2, billing 0.3; onboarding checklist ["Integration Connected"] with
stall_days 3; sharp drops off (tested separately). T0 = 2026-11-02T00:00:00Z.
"""

from __future__ import annotations

from typing import Any

import pytest

from scoring.calls import ScoredEvent
from scoring.engine import Change, Scorer
from scoring.model import parse_model
from streams.contracts.alert import Alert
from streams.worker.records import alert_from_change, alert_id

HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
T0 = 1_793_577_600 * 1_000_000  # 2026-11-02T00:00:00Z
TOL = 1e-9
MODEL = """
[score]
mode = "window"
window_days = 30
[weights]
"Login" = 10
[health]
milestones = ["Integration Connected"]
stall_days = 3
[health.weights]
usage = 0.4
nps = 0.1
support = 0.2
billing = 0.3
[explain]
sharp_drop_points = 0.0
"""


def run(events: list[tuple[str, str, int, dict[str, Any]]], model: str = MODEL) -> list[Change]:
    scorer = Scorer(parse_model(model))
    out: list[Change] = []
    for i, (account, name, ts, props) in enumerate(events):
        out.extend(scorer.handle(ScoredEvent(account, name, ts, f"m{i}", props)).changes)
    return out


def signals(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.reason is not None]


def test_detractor_routes_to_a_csm_call_within_24h() -> None:
    (sig,) = signals(run([("a", "NPS Submitted", T0 + 10 * HOUR, {"score": 3})]))
    # usage 0 (NPS weighs 0), nps 30, support 100, billing none: (0 + 3 + 20) / 0.7 = 32.857 -> red
    assert (sig.kind, sig.reason, sig.from_band, sig.to_band) == ("health", "nps_detractor", "red", "red")
    assert abs(sig.score - 23 / 0.7) <= TOL
    alert = alert_from_change(sig).to_dict()
    assert alert["route"] == "csm_call" and "24 h" in alert["action"]
    assert alert["explain"]["detail"] == {"nps": 3.0}
    assert alert["direction"] == "none" and alert["at"] == "2026-11-02T10:00:00+00:00"
    assert alert["alert_id"] == alert_id("health", "nps_detractor", "a", "red", "red",
                                         "2026-11-02T10:00:00+00:00")
    assert alert["components"] == {"usage": 0.0, "nps": 30.0, "support": 100.0, "billing": None}


@pytest.mark.parametrize(("score", "reason"), [
    (0, "nps_detractor"), (6, "nps_detractor"), (7, None), (8, None), (9, "nps_promoter"),
    (10, "nps_promoter"), (11, None), ("9", None)])
def test_nps_categories(score: Any, reason: str | None) -> None:
    got = [c.reason for c in signals(run([("a", "NPS Submitted", T0, {"score": score})]))]
    assert got == ([] if reason is None else [reason])


def test_promoter_routes_to_a_referral_ask() -> None:
    (sig,) = signals(run([("a", "NPS Submitted", T0, {"score": 10})]))
    alert = alert_from_change(sig).to_dict()
    assert alert["reason"] == "nps_promoter" and alert["route"] == "referral_ask"
    assert "referral" in alert["action"]


def test_payment_failed_and_past_due_are_billing_alerts() -> None:
    changes = run([("a", "Login", T0, {}), ("a", "Payment Failed", T0 + HOUR, {}),
                   ("a", "Subscription Past Due", T0 + 2 * HOUR, {})])
    got = signals(changes)
    assert [c.reason for c in got] == ["payment_failed", "subscription_past_due"]
    # usage 10 -> 4, support 100 -> 20, billing 30 -> 9: (4 + 20 + 9) / 0.9 = 36.667 (red)
    assert abs(got[0].score - 33 / 0.9) <= TOL
    # billing 0: (4 + 20 + 0) / 0.9 = 26.667
    assert abs(got[1].score - 24 / 0.9) <= TOL
    assert {alert_from_change(c).route for c in got} == {"billing"}
    # the health band was already red after the Login: (4 + 20) / 0.6 = 40 <= 40
    assert [c.to_band for c in changes if c.kind == "health" and c.reason is None] == ["red"]


def test_contraction_alerts_at_once_with_the_mrr_delta() -> None:
    got = signals(run([("a", "Login", T0, {}),
                       ("a", "Add-on Canceled", T0 + HOUR, {"mrr_delta": -49.0}),
                       ("a", "Subscription Downgraded", T0 + 2 * HOUR, {"mrr_delta": "lots"}),
                       ("a", "Teammate Invited", T0 + 3 * HOUR, {})]))
    assert [(c.reason, c.explain["detail"]) for c in got if c.explain] == [
        ("contraction", {"event": "Add-on Canceled", "mrr_delta": -49.0}),
        ("contraction", {"event": "Subscription Downgraded", "mrr_delta": None})]
    assert alert_from_change(got[0]).route == "csm_immediate"


def test_onboarding_stalled_once_at_the_first_evaluation_past_stall_days() -> None:
    changes = run([("b", "Login", T0, {}),
                   ("b", "Login", T0 + 2 * DAY, {}),          # 2 d < 3 d: not stalled yet
                   ("c", "Login", T0, {}),
                   ("c", "Integration Connected", T0 + DAY, {}),  # c reached a milestone
                   ("b", "Login", T0 + 3 * DAY, {}),          # 3 d >= 3 d: stalled
                   ("b", "Login", T0 + 4 * DAY, {}),          # once only
                   ("c", "Login", T0 + 5 * DAY, {})])
    got = signals(changes)
    assert [(c.account, c.reason, c.at_us) for c in got] == [("b", "onboarding_stalled", T0 + 3 * DAY)]
    assert alert_from_change(got[0]).route == "guidance"


def test_a_silent_account_stalls_at_the_sweep_in_window_mode() -> None:
    # d's first event at T0 10:00, then silence; e's events move the stream clock. The stall time
    # is T0+3d 10:00; the first sweep point at or after it is T0+4d (midnight), where the sweep
    # evaluates d although no bucket of d leaves its 30-day window.
    changes = run([("d", "Login", T0 + 10 * HOUR, {}), ("e", "Login", T0 + 5 * DAY, {})])
    got = signals(changes)
    assert [(c.account, c.reason, c.at_us, c.cause) for c in got] == [
        ("d", "onboarding_stalled", T0 + 4 * DAY, "sweep")]
    assert alert_from_change(got[0]).reason == "onboarding_stalled"


def test_sharp_drop_without_a_band_change_fires_once() -> None:
    model = """
[score]
mode = "window"
window_days = 30
[weights]
"Report Exported" = 19
"Support Ticket Opened" = -23
[explain]
sharp_drop_points = 20.0
"""
    changes = run([("a", "Report Exported", T0 + i * HOUR, {}) for i in range(5)]  # 95 on day 0
                  + [("a", "Support Ticket Opened", T0 + 8 * DAY, {}),  # 72: -23 since day 1 horizon
                     ("a", "Support Ticket Opened", T0 + 8 * DAY + HOUR, {})], model)  # 49: still down
    got = signals(changes)
    # day 8 - 7 = day 1: the latest snapshot at or before it is day 0's 95; 72 - 95 = -23 <= -20
    assert [(c.kind, c.reason, c.from_band, c.to_band, c.score) for c in got] == [
        ("engagement", "sharp_drop", "green", "green", 72.0)]
    alert = alert_from_change(got[0]).to_dict()
    assert (alert["score_7d_ago"], alert["delta_7d"], alert["direction"]) == (95.0, -23.0, "down")
    assert alert["route"] == "csm_review"
    # exports: 19 red (first), 38 red, 57 yellow, 76 green, 95 green; tickets: 72 green, then
    # 49 moves the band to yellow but raises no second sharp drop
    assert [(c.from_band, c.to_band) for c in changes if c.reason is None and c.from_band] == [
        ("red", "yellow"), ("yellow", "green"), ("green", "yellow")]


def test_alert_ids_differ_by_reason_and_repeat_for_the_same_signal() -> None:
    a = run([("a", "NPS Submitted", T0, {"score": 2}), ("a", "Payment Failed", T0, {})])
    b = run([("a", "NPS Submitted", T0, {"score": 2}), ("a", "Payment Failed", T0, {})])
    ids_a = [alert_from_change(c).alert_id for c in signals(a)]
    assert ids_a == [alert_from_change(c).alert_id for c in signals(b)]
    assert len(set(ids_a)) == 2


def test_alerts_tail_line_shows_route_weakest_component_and_tickets() -> None:
    from streams.cli.tail import format_alert

    line = format_alert(Alert.parse({
        "alert_id": "x", "at": "2026-11-14T10:00:00+00:00", "account": "acme", "from": "green", "to": "yellow",
        "direction": "down", "score": 65.14, "score_7d_ago": 90.0, "kind": "health", "reason": "band_change",
        "route": "guidance", "weakest_component": "support",
        "explain": {"tickets": ["SSO fails", "Webhook timeout"]}, "traits": {}}))
    assert "(7d ago 90.0)" in line and "[health/band_change]" in line
    assert "route=guidance" in line and "weakest=support" in line
    assert line.endswith("tickets: SSO fails; Webhook timeout")


def test_a_ticket_without_a_subject_reads_no_subject_not_none() -> None:
    from streams.cli.tail import format_alert
    from streams.notify.channels.render import describe, text

    alert = Alert.parse({"alert_id": "x", "at": "2026-11-14T10:00:00+00:00", "account": "acme", "from": "red",
                         "to": "red", "direction": "none", "score": 19.3, "kind": "health", "reason": "sharp_drop",
                         "explain": {"tickets": [None, "SSO fails"]}, "traits": {}})
    assert format_alert(alert).endswith("tickets: (no subject); SSO fails")
    body = text(describe(alert))
    assert "  - (no subject)" in body and "  - SSO fails" in body and "None" not in body
