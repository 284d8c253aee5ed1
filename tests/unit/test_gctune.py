"""The worker's garbage-collector policy (streams/worker/gctune.py) on this process's collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from streams.settings import Settings
from streams.worker.gctune import GcPolicy, install_metrics
from streams.worker.metrics import REGISTRY


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_apply_sets_the_configured_thresholds_and_leaves_python_s_otherwise() -> None:
    before = gc.get_threshold()
    GcPolicy(1.0).apply()
    assert gc.get_threshold() == before
    GcPolicy(1.0, (5000, 15, 25)).apply()
    assert gc.get_threshold() == (5000, 15, 25)
    assert [sample("pulse_gc_threshold", generation=g) for g in "012"] == [5000, 15, 25]


def test_freeze_moves_live_objects_out_of_collections_and_revoke_brings_them_back() -> None:
    policy = GcPolicy(1.0)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    state = [{"account": i, "scores": [i, i + 1]} for i in range(2000)]  # 4,000 tracked containers
    policy.after_restore()
    assert gc.get_freeze_count() >= 2 * len(state)
    assert sample("pulse_gc_frozen_objects") == gc.get_freeze_count()
    policy.before_revoke()
    assert gc.get_freeze_count() == 0
    policy.freeze()  # the timer's call during the rebalance: nothing until the restore
    assert gc.get_freeze_count() == 0
    policy.after_restore()
    policy.before_revoke()
    policy.after_restore()
    policy.freeze()  # the timer's call after the restore
    assert gc.get_freeze_count() >= 2 * len(state)


def test_freeze_seconds_zero_never_freezes() -> None:
    gc.unfreeze()
    policy = GcPolicy(0)
    assert not policy.freezing
    policy.after_restore()
    policy.freeze()
    assert gc.get_freeze_count() == 0


def test_every_collection_s_pause_is_observed_by_generation() -> None:
    install_metrics()
    install_metrics()  # once per process: a second call adds no second hook
    before = [sample("pulse_gc_pause_seconds_count", generation=g) or 0 for g in "012"]
    gc.collect(2)
    gc.collect(0)
    after = [sample("pulse_gc_pause_seconds_count", generation=g) or 0 for g in "012"]
    assert after[2] - before[2] == 1
    assert after[0] - before[0] >= 1  # (the allocations of the test may start more gen-0 passes)
    assert (sample("pulse_gc_collections_total", generation="2") or 0) >= 1


def test_the_settings_read_the_gc_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().worker_gc_freeze_seconds == 1.0
    assert Settings().worker_gc_threshold is None
    assert Settings().worker_gc_thaw_seconds == 3600.0
    monkeypatch.setenv("PULSE_WORKER_GC_FREEZE_SECONDS", "0")
    monkeypatch.setenv("PULSE_WORKER_GC_THRESHOLD", "[50000, 20, 100]")
    s = Settings()
    assert (s.worker_gc_freeze_seconds, s.worker_gc_threshold) == (0, (50000, 20, 100))
    monkeypatch.setenv("PULSE_WORKER_GC_FREEZE_SECONDS", "-1")
    with pytest.raises(ValueError, match="worker_gc_freeze_seconds"):
        Settings()


def test_the_rebalance_sensor_unfreezes_at_the_start_of_a_rebalance() -> None:
    from streams.worker.gctune import RebalanceSensor

    policy = GcPolicy(1.0)
    policy.after_restore()
    assert gc.get_freeze_count() > 0
    state = RebalanceSensor(policy).on_rebalance_start(None)
    assert gc.get_freeze_count() == 0 and policy.rebalancing
    assert "time_start" in state  # Faust's own sensor state is kept
    policy.freeze()
    assert gc.get_freeze_count() == 0  # until the restore


def test_faust_calls_sensors_at_the_start_of_a_revocation_before_waiting_for_the_agents() -> None:
    """What RebalanceSensor relies on in faust-streaming (fails loudly if an upgrade moves it)."""
    import inspect

    from faust.app.base import App
    from faust.transport.drivers.aiokafka import ConsumerRebalanceListener

    revoked = inspect.getsource(ConsumerRebalanceListener.on_partitions_revoked)
    assert revoked.index("app.on_rebalance_start()") < revoked.index("thread.on_partitions_revoked(")
    assert "self.sensors.on_rebalance_start(self)" in inspect.getsource(App.on_rebalance_start)
    body = inspect.getsource(App._on_partitions_revoked)
    assert "_consumer_wait_empty" in body


def test_a_thaw_frees_the_cycles_that_became_garbage_while_frozen() -> None:
    class Node:
        other: Any

    policy = GcPolicy(1.0, thaw_seconds=3600)
    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle, alive at the freeze
    alive = weakref.ref(a)
    policy.freeze()
    del a, b  # garbage now, but frozen
    gc.collect()
    assert alive() is not None  # no collection sees a frozen cycle
    policy.freeze()  # within thaw_seconds: no thaw
    gc.collect()
    assert alive() is not None
    policy.last_thaw -= 3600
    policy.freeze()  # thaw_seconds passed: unfreeze, one full collection, then freeze again
    assert alive() is None
    assert gc.get_freeze_count() > 0
