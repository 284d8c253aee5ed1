"""`streams.worker.metrics`: per-batch deltas from real `PartitionState`s, alert counts, scrape-time gauges."""

from __future__ import annotations

import types
from typing import Any

import orjson
from prometheus_client import generate_latest

from scoring.calls import ScoredEvent
from scoring.model import load_model
from streams.worker import metrics
from streams.worker.partition_state import PartitionState
from streams.worker.score import ScoreStep

DAY_US = 86_400 * 1_000_000
T0 = 1_700_000_000 * 1_000_000


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def record(*events: ScoredEvent) -> bytes:
    return orjson.dumps([e.to_dict() for e in events])


def batch_event(ts: float) -> Any:
    return types.SimpleNamespace(message=types.SimpleNamespace(timestamp=ts))


def test_score_batch_adds_what_the_batch_did_and_not_restored_counts() -> None:
    model = load_model(None)
    st = PartitionState(901, model, 86400)
    metrics.track(st)
    before = {o: value("pulse_events_total", outcome=o) for o in ("accepted", "duplicate", "late")}
    lag_count = value("pulse_event_lag_seconds_count")
    st.apply(0, record(ScoredEvent("a1", "Login", T0, "m1"), ScoredEvent("a1", "Login", T0 + 1, "m1"),
                       ScoredEvent("a2", "Login", T0 + 2, "m2")))
    metrics.score_batch([st], batch_event(0.0), [], 0.0)
    assert value("pulse_events_total", outcome="accepted") - before["accepted"] == 2
    assert value("pulse_events_total", outcome="duplicate") - before["duplicate"] == 1
    assert value("pulse_event_lag_seconds_count") - lag_count == 1  # the clock moved: one sample

    # the same batch again (a redelivery the state absorbs): nothing new is counted
    st.apply(0, record(ScoredEvent("a1", "Login", T0, "m1")))
    metrics.score_batch([st], batch_event(0.0), [], 0.0)
    assert value("pulse_events_total", outcome="accepted") - before["accepted"] == 2
    assert value("pulse_event_lag_seconds_count") - lag_count == 1  # clock unchanged: no sample

    # a restart: the state restored from its table rows carries its counts; they are not new events
    restored = PartitionState.restore(901, model, 86400, st.take_writes())
    assert restored.scorer.counts["accepted"] == 2
    metrics.track(restored)
    restored.apply(1, record(ScoredEvent("a3", "Login", T0 + 40 * DAY_US, "m3")))  # a new account
    metrics.score_batch([restored], batch_event(0.0), [], 0.0)
    assert value("pulse_events_total", outcome="accepted") - before["accepted"] == 3


def test_alerts_are_counted_by_kind_and_transition_and_timed_once_per_batch() -> None:
    def alert(kind: str, frm: str, to: str) -> tuple[str, bytes, bytes]:
        return ("alerts", b"k", orjson.dumps({"kind": kind, "from": frm, "to": to}))

    st = PartitionState(902, load_model(None), 86400)
    metrics.track(st)
    emit = value("pulse_alert_emit_seconds_count")
    red = value("pulse_alerts_total", kind="engagement", from_band="yellow", to_band="red")
    health = value("pulse_alerts_total", kind="health", from_band="green", to_band="yellow")
    sent = [alert("engagement", "yellow", "red")] * 3 + [alert("health", "green", "yellow")]
    metrics.score_batch([st], batch_event(1.0), sent, 0.0)
    assert value("pulse_alerts_total", kind="engagement", from_band="yellow", to_band="red") - red == 3
    assert value("pulse_alerts_total", kind="health", from_band="green", to_band="yellow") - health == 1
    assert value("pulse_alert_emit_seconds_count") - emit == 1


def test_resolve_batch_counts_consumed_and_invalid_by_reason() -> None:
    consumed, invalid = value("pulse_events_total", outcome="consumed"), value("pulse_events_total",
                                                                                 outcome="invalid")
    not_json = value("pulse_events_invalid_total", reason="not_json")
    metrics.resolve_batch(500, {"not_json": 2, "bad_type": 1}, 0.0)
    assert value("pulse_events_total", outcome="consumed") - consumed == 500
    assert value("pulse_events_total", outcome="invalid") - invalid == 3
    assert value("pulse_events_invalid_total", reason="not_json") - not_json == 2


def test_lag_status_gauge_has_exactly_one_status_set() -> None:
    from streams.worker.lagmon import PartitionStatus

    metrics.set_lag([PartitionStatus("g", "t", 3, 10, 25, 15, "STALL", 5, 1.0)])
    got = {s: value("pulse_consumer_lag_status", group="g", topic="t", partition="3", status=s)
           for s in ("OK", "WARN", "STALL", "STOP", "REWIND")}
    assert got == {"OK": 0, "WARN": 0, "STALL": 1, "STOP": 0, "REWIND": 0}
    assert value("pulse_consumer_lag", group="g", topic="t", partition="3") == 15
    metrics.set_lag([PartitionStatus("g", "t", 3, 25, 25, 0, "OK", 5, True)])
    assert value("pulse_consumer_lag_status", group="g", topic="t", partition="3", status="STALL") == 0
    assert value("pulse_consumer_lag_status", group="g", topic="t", partition="3", status="OK") == 1
    metrics.set_lag([])  # the partition went to another worker: its series go away
    assert metrics.REGISTRY.get_sample_value("pulse_consumer_lag", {"group": "g", "topic": "t",
                                                                    "partition": "3"}) is None
    assert metrics.REGISTRY.get_sample_value("pulse_consumer_lag_status", {
        "group": "g", "topic": "t", "partition": "3", "status": "OK"}) is None


def test_bands_and_table_keys_are_computed_at_scrape_time() -> None:
    step = ScoreStep(load_model(None), 86400, load=lambda partition: [])
    step.apply([types.SimpleNamespace(partition=0, offset=0, value=record(
        *(ScoredEvent(f"acct-{i}", "Login", T0 + i, f"m{i}") for i in range(7))))])
    metrics.bind(step, {})
    text = generate_latest(metrics.REGISTRY).decode()
    assert "pulse_accounts{band=" in text
    banded = sum(value("pulse_accounts", band=b) for b in
                 ("at_risk", "red", "yellow", "green", "thriving", "none"))
    assert banded == 7
    assert value("pulse_table_keys", table="scorer-accounts") == 7
    assert value("pulse_table_keys", table="account-state") == 8  # 7 accounts + the partition's meta row
