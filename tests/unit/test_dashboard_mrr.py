"""MRR from subscription events: the scoring state's running MRR (scoring.health.observe_mrr),
its resolution against the `mrr` trait (scoring.revenue.account_mrr), and the dashboard reading
it from a real changelog record. Every expected number is worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.change import Change
from scoring.feed import Feed
from scoring.health import HealthState, observe_mrr
from scoring.model import load_model
from scoring.revenue import account_mrr
from streams.dashboard.alerts import AlertBook
from streams.dashboard.derive import Deriver
from streams.dashboard.model import ReadModel
from streams.dashboard.views import Views

MODEL = load_model(Path(__file__).resolve().parents[1] / "data" / "health" / "model.toml")


def _state(*events: tuple[str, dict[str, Any]]) -> list[Any] | None:
    st = HealthState()
    for name, props in events:
        observe_mrr(st, name, props)
    return st.mrr


def test_subscription_events_move_the_accounts_mrr() -> None:
    assert _state(("Subscription Started", {"mrr": 100})) == [100.0, 1]
    # 100, +50 -> 150, -30 -> 120, an add-on of 200 cancelled takes it to 0 (never below), restart at 80
    assert _state(("Subscription Started", {"mrr": 100}), ("Subscription Upgraded", {"mrr_delta": 50}),
                  ("Subscription Downgraded", {"mrr_delta": -30})) == [120.0, 1]
    assert _state(("Subscription Started", {"mrr": 100}), ("Add-on Canceled", {"mrr_delta": 200})) == [0.0, 1]
    assert _state(("Subscription Started", {"mrr": 100}), ("Subscription Canceled", {}),
                  ("Subscription Started", {"mrr": 80})) == [80.0, 1]
    # "mrr" after a change instead of a delta: the value itself
    assert _state(("Subscription Started", {"mrr": 100}), ("Subscription Upgraded", {"mrr": 175})) == [175.0, 1]
    # no usable amount moves nothing; a trial start or an invoice is no subscription movement
    assert _state(("Subscription Started", {"mrr": "100"}), ("Subscription Upgraded", {}),
                  ("Trial Started", {}), ("Invoice Paid", {"amount": 9})) is None


def test_only_deltas_are_relative_to_the_trait() -> None:
    assert _state(("Subscription Upgraded", {"mrr_delta": 50}),
                  ("Subscription Downgraded", {"mrr_delta": 20})) == [30.0, 0]  # +50 - 20, no anchor
    assert account_mrr([30.0, 0], 500) == (530.0, "billing+trait")
    assert account_mrr([30.0, 0], None) == (30.0, "billing")
    assert account_mrr([-80.0, 0], 50) == (0.0, "billing+trait")  # 50 - 80 floored at 0
    assert account_mrr([120.0, 1], 500) == (120.0, "billing")  # an anchored MRR ignores the trait
    assert account_mrr(None, 500) == (500.0, "trait")
    assert account_mrr(None, "500") == (None, None) and account_mrr(None, True) == (None, None)
    assert account_mrr(None, -5) == (None, None)


def test_health_state_dump_keeps_mrr_and_loads_dumps_without_it() -> None:
    old = [2, 10, None, None, {}, []]  # a dump made before the state kept MRR
    assert HealthState.load(old).mrr is None and HealthState.load(old).dump() == old
    st = HealthState.load(old)
    observe_mrr(st, "Subscription Started", {"mrr": 99})
    assert st.dump() == [*old, [99.0, 1]] and HealthState.load(st.dump()).mrr == [99.0, 1]


def _line(d: dict[str, Any]) -> bytes:
    return orjson.dumps(d)


@pytest.fixture(scope="module")
def rm() -> ReadModel:
    """Three accounts scored by the core, dumped as the worker's changelog records, derived and
    upserted by the dashboard's own code."""
    feed, changes = Feed(MODEL), list[Change]()
    lines = [
        {"type": "group", "userId": "u1", "groupId": "billed", "traits": {"plan": "team", "mrr": 999},
         "timestamp": "2026-11-01T08:00:00Z"},
        {"type": "track", "event": "Subscription Started", "userId": "u1", "messageId": "b1",
         "properties": {"mrr": 200}, "timestamp": "2026-11-01T09:00:00Z"},
        {"type": "track", "event": "Subscription Downgraded", "userId": "u1", "messageId": "b2",
         "properties": {"mrr_delta": -50}, "timestamp": "2026-11-02T09:00:00Z"},
        {"type": "track", "event": "Subscription Downgraded", "userId": "u1", "messageId": "b2",  # a repeat
         "properties": {"mrr_delta": -50}, "timestamp": "2026-11-02T09:00:00Z"},
        {"type": "group", "userId": "u2", "groupId": "delta", "traits": {"mrr": 300},
         "timestamp": "2026-11-01T08:00:00Z"},
        {"type": "track", "event": "Subscription Upgraded", "userId": "u2", "messageId": "d1",
         "properties": {"mrr_delta": 40}, "timestamp": "2026-11-02T09:00:00Z"},
        {"type": "group", "userId": "u3", "groupId": "traitonly", "traits": {"mrr": 700},
         "timestamp": "2026-11-01T08:00:00Z"},
        {"type": "track", "event": "Report Exported", "userId": "u3", "messageId": "t1",
         "timestamp": "2026-11-02T09:00:00Z"},
    ]
    for d in lines:
        feed.feed(_line(d), changes)
    sc = feed.scorer
    deriver, model = Deriver(MODEL), ReadModel()
    deriver.meta(orjson.dumps({"p": 0, "offset": 0, "scorer": sc.dump_meta()}))
    for k, account in enumerate(sorted(sc.accounts)):
        value = orjson.dumps([0, k, sc.dump_account(account), feed.resolver.traits(account)])
        d = deriver.derive(account.encode(), value)
        assert d is not None
        model.upsert(d)
    return model


def test_the_dashboard_reads_mrr_from_the_workers_state(rm: ReadModel) -> None:
    v = Views(rm, AlertBook(), MODEL)
    got = {a: (v.account(a) or {}).get("mrr") for a in ("billed", "delta", "traitonly")}
    # billed: Started 200, one downgrade of 50 (its repeat dropped by the worker's dedup) = 150,
    #         the 999 trait ignored; delta: trait 300 + 40 = 340; traitonly: the 700 trait
    assert got == {"billed": 150.0, "delta": 340.0, "traitonly": 700.0}
    assert [(v.account(a) or {}).get("mrr_source") for a in ("billed", "delta", "traitonly")] == [
        "billing", "billing+trait", "trait"]
    p = v.portfolio()["mrr_by_band"]
    assert p["sources"] == {"trait": 1, "billing": 1, "billing+trait": 1}
    assert sum(p["mrr"].values()) == 150.0 + 340.0 + 700.0
