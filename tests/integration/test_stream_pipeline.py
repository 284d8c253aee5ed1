"""The Faust pipeline on the real broker gives what `pulse replay` (the pure core) gives."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from scoring.model import load_model, parse_model
from streams.dev.client_shapes import Config as ShapesConfig
from streams.dev.client_shapes import write as write_shapes
from streams.dev.telemetry import Config, generate, write
from tests.integration.stream_harness import core_run, expected_alerts, per_account

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
KEYS = ("from", "to", "at", "score")
WINDOW_MODEL = """
[score]
mode = "window"
window_days = 14
hysteresis = 3.0
[weights]
"Login" = 1
"Page Viewed" = 0.5
"Feature Used" = 0.5
"Report Exported" = 5
"Dashboard Shared" = 4
"Teammate Invited" = 10
"Integration Connected" = 15
"Support Ticket Opened" = -4
"Payment Failed" = -10
"Subscription Downgraded" = -20
"""


def assert_same(stream_scores, stream_alerts, core_scores, core_alerts, *, check_sweeps: bool = True) -> None:
    assert {r["account"] for r in stream_scores} == {r["account"] for r in core_scores}
    mine = {r["account"]: r for r in stream_scores}
    for r in core_scores:
        got = mine[r["account"]]
        assert got["band"] == r["band"], (r, got)
        assert abs(got["score"] - r["score"]) <= 1e-6, (r, got)
    want = core_alerts if check_sweeps else [a for a in core_alerts if a["reason"] == "band_change"]
    have = stream_alerts if check_sweeps else [a for a in stream_alerts if a["reason"] == "band_change"]
    assert per_account(have, KEYS) == per_account(want, KEYS)
    assert {a["alert_id"] for a in have} == {a["alert_id"] for a in want}

def assert_recovered(p, events: Path, model) -> None:
    """After kills and restarts: the core's final scores, every alert of the core (none lost, none
    invented; redelivery may repeat ids) in order per account once the repeats are dropped."""
    scores, changes, _ = core_run(events, model)
    alerts = p.alerts()
    want = expected_alerts(changes)
    have_ids = {a["alert_id"] for a in alerts}
    missing = [a for a in want if a["alert_id"] not in have_ids]
    assert not missing, f"{len(missing)} alerts lost, e.g. {missing[:3]}"
    assert have_ids == {a["alert_id"] for a in want}  # redelivery repeats ids, never invents alerts
    seen: set[str] = set()
    unique = [a for a in alerts if not (a["alert_id"] in seen or seen.add(a["alert_id"]))]
    assert per_account(unique, KEYS) == per_account(want, KEYS)
    mine = {r["account"]: r for r in p.export(model)}
    for r in scores:
        assert mine[r["account"]]["band"] == r["band"]
        assert abs(mine[r["account"]]["score"] - r["score"]) <= 1e-6



def test_one_partition_equals_replay_on_faulty_telemetry(pipeline, tmp_path: Path) -> None:
    """Multi-user accounts, group calls, retries, out-of-order, late, batches, malformed lines."""
    events = tmp_path / "events.jsonl"
    write(Config(events=6000, accounts=60, days=45, seed=3, window_days=14), events)
    with (ROOT / "examples" / "demo.jsonl").open("rb") as demo, events.open("ab") as f:
        f.write(demo.read())  # a second, later stretch of history in the same stream
    model_path = tmp_path / "model.toml"
    model_path.write_text(WINDOW_MODEL)
    model = parse_model(WINDOW_MODEL)
    p = pipeline(model_path=model_path)
    p.start()
    p.produce(events)
    p.wait_caught_up()
    scores, changes, _end = core_run(events, model)
    alerts = p.alerts()
    assert len(alerts) >= 50  # the data really moves bands
    assert_same(p.export(model), alerts, scores, expected_alerts(changes))


def test_one_partition_equals_replay_on_real_client_shapes(pipeline, tmp_path: Path) -> None:
    """Integer ids, RudderStack times, ISO forms, `context: []`, alias/delete, anonymous group calls,
    envelopes, sizes, future times (streams/dev/client_shapes.py) through the real worker."""
    events = tmp_path / "shapes.jsonl"
    now = time.time_ns() // 1000
    write_shapes(ShapesConfig(events=3000, accounts=24, seed=23, now_us=now - 86_400_000_000), events)
    model_path = tmp_path / "model.toml"
    model_path.write_text(WINDOW_MODEL)
    model = parse_model(WINDOW_MODEL)
    p = pipeline(model_path=model_path)
    p.start()
    p.produce(events)
    p.wait_caught_up()
    scores, changes, _end = core_run(events, model, now_us=now)
    assert len(scores) > 20
    assert_same(p.export(model), p.alerts(), scores, expected_alerts(changes))
    reasons = {d["reason"] for d in p.dead_letters()}
    assert {"oversize", "future_timestamp", "bad_type", "nested_batch"} <= reasons, reasons


def test_four_partitions_equal_replay_when_each_account_has_one_user(pipeline, tmp_path: Path) -> None:
    """Four partitions give replay's answers when each account partition sees its events in
    file order: each account has one user (so its events share one input partition), and the
    telemetry arrives day by day, as it does live (each day is in before the next is sent), so
    no input partition runs days ahead of another. Every account also sends one event at the
    very end, so each partition's clock ends where replay's does.
    """
    cfg = Config(events=2400, accounts=24, days=20, seed=5, single_user=True, ooo_rate=0.0,
                 late_rate=0.0, batch_rate=0.0, window_days=7)
    lines = list(generate(cfg))
    final_ts = "2026-08-21T12:00:00Z"
    lines += [orjson.dumps({"type": "track", "event": "Login", "userId": f"u{i}-0",
                            "context": {"groupId": f"acct-{i:06d}"}, "messageId": f"final-{i}",
                            "timestamp": final_ts}) for i in range(cfg.accounts)]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    model_text = WINDOW_MODEL.replace("window_days = 14", "window_days = 7")
    model_path = tmp_path / "model.toml"
    model_path.write_text(model_text)
    model = parse_model(model_text)
    p = pipeline(model_path=model_path, partitions=4)
    p.start()
    for n, day in enumerate(split_by_day(lines)):
        chunk = tmp_path / f"day-{n}.jsonl"
        chunk.write_bytes(b"\n".join(day) + b"\n")
        p.produce(chunk)
        p.wait_caught_up(settle=0.2)
    scores, changes, _ = core_run(events, model)
    assert_same(p.export(model), p.alerts(), scores, expected_alerts(changes))


def split_by_day(lines: list[bytes]) -> list[list[bytes]]:
    """Cut the stream where its clock (the largest timestamp so far) enters a new UTC day."""
    days: list[list[bytes]] = [[]]
    current = ""
    for line in lines:
        try:
            d = orjson.loads(line)
            day = str(d.get("timestamp", ""))[:10] if isinstance(d, dict) else ""
        except orjson.JSONDecodeError:
            day = ""
        if day > current and d.get("type") != "group":
            if current:
                days.append([])
            current = day
        days[-1].append(line)
    return days


def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=20000, accounts=200, days=60, seed=11), events)
    model = load_model(None)
    p = pipeline()
    p.produce(events)  # all in before the worker starts: it is killed while catching up
    p.start()
    import asyncio

    from streams.kafka import group_lag

    # `scored` carries the resolve agent's output: kill as soon as its first record is on the
    # broker, i.e. while the worker is in the middle of its first batches and (with commits once
    # a second) before it has committed what it did. Waiting for the first *commit* on `scored`
    # instead came too late once the worker caught up on these 20k records within that second.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lags = asyncio.run(group_lag(p.bootstrap, p.names.worker_app, [p.names.events, p.names.scored]))
        if any(x.topic == p.names.scored and x.end > 0 for x in lags):
            break
        time.sleep(0.02)
    p.kill()
    left = {x.topic: x.end - (x.committed or 0) for x in lags}
    assert left[p.names.events] > 0 or left[p.names.scored] > 0, f"killed after the end: {lags}"
    p.start()
    p.wait_caught_up()
    assert_recovered(p, events, model)


def test_malformed_records_go_to_the_dlq_while_good_ones_flow(pipeline, tmp_path: Path) -> None:
    good = [{"type": "track", "event": "Teammate Invited", "userId": f"u{i}", "context": {"groupId": "acct-dlq"},
             "messageId": f"g{i}", "timestamp": f"2026-09-01T10:0{i}:00Z"} for i in range(5)]
    bad = [b"{not json", b'{"type": "track", "event": "Login", "userId": true, "timestamp": "2026-09-01T10:00:00Z"}',
           b'{"type": "track", "event": "Login", "userId": "u", "timestamp": "yesterday"}',
           b'{"type": "track", "event": "Login", "timestamp": "2026-09-01T10:00:00Z"}',
           b'{"type": "track", "event": "Login", "userId": "u", "timestamp": "2099-01-01T00:00:00Z"}']
    lines = []
    for g, b in zip(good, bad, strict=True):
        lines += [orjson.dumps(g), b]
    events = tmp_path / "mixed.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    p = pipeline()
    p.start()
    p.produce(events)
    p.wait_caught_up()
    dlq = p.dead_letters()
    assert sorted(d["reason"] for d in dlq) == sorted(
        ["not_json", "bad_type", "bad_timestamp", "no_account", "future_timestamp"])
    assert sorted(d["offset"] for d in dlq) == [1, 3, 5, 7, 9]  # the source offsets of the bad lines
    raw = {__import__("base64").b64decode(d["raw_b64"]) for d in dlq}
    assert raw == set(bad)  # the original bytes, unchanged
    [score] = [r for r in p.export(load_model(None)) if r["account"] == "acct-dlq"]
    assert score["score"] == 50.0  # 5 x Teammate Invited (10 points) all flowed
