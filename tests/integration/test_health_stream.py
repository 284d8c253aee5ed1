"""Health alerts and signals through the real broker: the worker's alerts == the pure core's.

A detractor NPS response produced to the real `events` topic comes out on `alerts` with its
reason, default route and explanation; on generated telemetry (NPS, tickets, billing,
contraction events among others) every health band change and signal alert of a 1-partition
worker equals what `pulse replay`'s core computes, field for field.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.model import parse_model
from streams.dev.telemetry import Config, write
from streams.offline.export import export_scores
from streams.offline.replay import replay
from tests.integration.stream_harness import core_run, expected_alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[1] / "data" / "health"
HEALTH_MODEL = """
[score]
mode = "window"
window_days = 14
hysteresis = 3.0
[weights]
"Login" = 1
"Feature Used" = 0.5
"Report Exported" = 5
"Dashboard Shared" = 4
"Teammate Invited" = 10
"Integration Connected" = 15
"Support Ticket Opened" = -4
"Payment Failed" = -10
"Subscription Downgraded" = -20
[health]
ticket_penalty = 20.0
milestones = ["Integration Connected", "Teammate Invited"]
aha = "Integration Connected"
stall_days = 10
[health.weights]
usage = 0.4
nps = 0.1
support = 0.15
billing = 0.25
onboarding = 0.1
[explain]
sharp_drop_points = 15.0
"""


def test_detractor_and_worked_example_reach_alerts_with_route_and_explanation(
        pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {"type": "group", "userId": "u9", "groupId": "initech", "traits": {"plan": "team"},
         "timestamp": "2026-11-02T08:00:00Z"},
        {"type": "track", "event": "Report Exported", "userId": "u9", "messageId": "r1",
         "timestamp": "2026-11-02T10:00:00Z"},
        {"type": "track", "event": "NPS Submitted", "userId": "u9", "messageId": "n1",
         "timestamp": "2026-11-02T11:00:00Z", "properties": {"score": 2}},
    ]
    # then the seed's worked example (tests/data/health/EXAMPLE.md), account acme
    events.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines)
                       + (DATA / "events.jsonl").read_bytes())
    p = pipeline(model_path=DATA / "model.toml")  # the worked example's model
    p.start()
    p.produce(events)
    p.wait_caught_up()
    alerts = p.alerts()
    (det,) = [a for a in alerts if a["reason"] == "nps_detractor"]
    # usage 30 -> 12, nps 20 -> 2, support 100 -> 20, billing none: (12 + 2 + 20) / 0.7 = 48.571
    assert det["kind"] == "health" and det["account"] == "initech"
    assert (det["from"], det["to"]) == ("yellow", "yellow")
    assert abs(det["score"] - 34 / 0.7) <= 1e-9
    assert det["route"] == "csm_call" and "24 h" in det["action"]
    assert det["explain"]["detail"] == {"nps": 2.0}
    assert det["components"] == {"usage": 30.0, "nps": 20.0, "support": 100.0, "billing": None}
    assert det["weakest_component"] == "nps"
    assert det["top_events"] == [{"event": "Report Exported", "count": 1, "points": 30.0}]
    assert det["traits"] == {"plan": "team"}
    assert det["at"] == "2026-11-02T11:00:00+00:00"
    # the worked example: support red, usage green -> CHS yellow, naming the ticket subjects
    (ex,) = [a for a in alerts if a["account"] == "acme" and a["kind"] == "health"
             and a["reason"] == "band_change" and a["to"] == "yellow"]
    assert ex["from"] == "green" and abs(ex["score"] - 45.6 / 0.7) <= 1e-9
    assert ex["weakest_component"] == "support" and ex["components"]["usage"] == 84.0
    assert ex["explain"]["tickets"] == ["SSO integration fails", "Webhook integration timeout",
                                        "Salesforce integration sync errors"]
    assert ex["score_7d_ago"] == 90.0 and ex["traits"] == {"plan": "enterprise"}


def _key(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["account"], a["kind"], a["reason"], a["at"], a["from"], a["to"])


def test_one_partition_health_alerts_equal_replay(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=5000, accounts=50, days=45, seed=11, window_days=14), events)
    model_path = tmp_path / "model.toml"
    model_path.write_text(HEALTH_MODEL)
    model = parse_model(HEALTH_MODEL)
    p = pipeline(model_path=model_path)
    p.start()
    p.produce(events)
    p.wait_caught_up()
    _scores, changes, _end = core_run(events, model)
    want = expected_alerts(changes)
    got = p.alerts()
    kinds = {(a["kind"], a["reason"]) for a in want}
    assert ("health", "band_change") in kinds and ("health", "nps_detractor") in kinds  # data moves
    assert len({a["reason"] for a in want if a["kind"] == "health"}) >= 4
    # field for field, without the traits (the core run does not attach them)
    strip = sorted(({k: v for k, v in a.items() if k != "traits"} for a in got), key=_key)
    want = sorted(({k: v for k, v in a.items() if k != "traits"} for a in want), key=_key)
    assert [_key(a) for a in strip] == [_key(a) for a in want]
    for g, w in zip(strip, want, strict=True):
        assert g == w, {k: (g.get(k), w.get(k)) for k in g.keys() | w.keys() if g.get(k) != w.get(k)}
    assert len({a["alert_id"] for a in got}) == len(got)
    # `pulse scores export --health` from the worker's changelog == replay's end-of-file files
    replay(events, model, tmp_path / "replay")
    scores, health = tmp_path / "export.jsonl", tmp_path / "export-health.jsonl"
    asyncio.run(export_scores(p.settings, model, p.settings.sweep_seconds, scores, health))
    assert scores.read_bytes() == (tmp_path / "replay" / "scores.jsonl").read_bytes()
    assert health.read_bytes() == (tmp_path / "replay" / "health_scores.jsonl").read_bytes()
    assert health.read_bytes().count(b"\n") == 50 and b'"nps":90.0' in health.read_bytes()


def test_four_partitions_health_alerts_equal_replay(pipeline, tmp_path: Path) -> None:
    """As test_stream_pipeline's four-partition test: one user per account, telemetry fed day by
    day, so each partition sweeps where replay does; then the health alerts and signals, with
    their trend and explanation, equal the core's too."""
    from streams.dev.telemetry import generate
    from tests.integration.test_stream_pipeline import split_by_day

    cfg = Config(events=2400, accounts=24, days=20, seed=5, single_user=True, ooo_rate=0.0,
                 late_rate=0.0, batch_rate=0.0, window_days=7)
    lines = list(generate(cfg))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    text = HEALTH_MODEL.replace("window_days = 14", "window_days = 7")
    model_path = tmp_path / "model.toml"
    model_path.write_text(text)
    p = pipeline(model_path=model_path, partitions=4)
    p.start()
    for n, day in enumerate(split_by_day(lines)):
        chunk = tmp_path / f"day-{n}.jsonl"
        chunk.write_bytes(b"\n".join(day) + b"\n")
        p.produce(chunk)
        p.wait_caught_up(settle=0.2)
    _scores, changes, _end = core_run(events, parse_model(text))
    want = sorted(({k: v for k, v in a.items() if k != "traits"} for a in expected_alerts(changes)
                   if a["kind"] == "health"), key=_key)
    got = sorted(({k: v for k, v in a.items() if k != "traits"} for a in p.alerts()
                  if a["kind"] == "health"), key=_key)
    assert len(want) >= 20
    assert [_key(a) for a in got] == [_key(a) for a in want]
    assert got == want
