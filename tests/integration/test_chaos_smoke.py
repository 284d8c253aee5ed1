"""The chaos harness (tests/chaos, docs/chaos.md) at smoke size, in the default test run: 20k
generated events on a private broker and Redis, one worker kill -9, one Redis kill and restart,
receivers failing 30% of the time; the same verdict as the long run (`pulse bench chaos`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.run import ChaosConfig, Run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_chaos_smoke_nothing_lost_nothing_doubled(tmp_path: Path) -> None:
    cfg = ChaosConfig(events=20_000, accounts=40, days=30, seed=20261130, worker_kills=1,
                      broker_restarts=0, redis_restarts=1, notifier_kills=0, fail_rate=0.3,
                      stall_seconds=0.5, timeout=300, lead=2500, route_to=None)
    v = Run(cfg, tmp_path).execute()
    summary = {k: v[k] for k in ("verdict", "lost", "doubled", "redelivered_same_key", "crashes",
                                 "ready_after_kill_s", "timing")}
    summary["alerts"] = v["checks"]["alerts_topic"]["expected"]
    summary["redelivered_after"] = [d["redelivered_after"] for d in v["checks"]["deliveries"]]
    print(json.dumps(summary))
    assert {f["fault"] for f in v["faults"]} == {"worker_kill", "redis_restart"}  # the faults really ran
    checks = v["checks"]
    for d in checks["deliveries"]:  # the receivers really failed, and every alert still got through
        assert sum(d["failed_on_purpose"].values()) > 0.2 * d["requests"], d
        assert d["lost"] == 0 and d["doubled"] == 0, d
    assert checks["alerts_topic"]["expected"] > 100, checks["alerts_topic"]  # the data moves bands
    assert checks["scores"]["ok"], checks["scores"]
    assert checks["alerts_topic"]["ok"], checks["alerts_topic"]
    assert checks["dead_letters"]["ok"] and checks["dead_letters"]["meant_to_fail"] > 0, checks["dead_letters"]
    assert checks["offsets"]["ok"], checks["offsets"]
    assert v["crashes"] == 0, checks["crashes"]
    assert v["ready_after_kill_s"][0] is not None, v["faults"]
    assert v["verdict"] == "pass", json.dumps(checks, default=str)[:4000]
