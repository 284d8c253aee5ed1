"""`pulse replay` against an independent naive implementation of docs/semantics.md, on generated faulty
telemetry: multi-user accounts, group calls and remaps, retries, out-of-order and late events,
batch envelopes, malformed lines; window mode with hysteresis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.dev.telemetry import Config, write
from tests.reference.naive import run as naive_run

MODEL = """
[score]
mode = "window"
window_days = {window}
bucket_seconds = {bucket}
hysteresis = {h}
half_life_days = 14
[bands]
at_risk_below = 0.0
red_max = 40.0
yellow_max = 70.0
green_max = 100.0
[weights]
"Login" = 1
"Feature Used" = 0.5
"Report Exported" = 5
"Teammate Invited" = 10
"Support Ticket Opened" = -4
"Payment Failed" = -10
"Page Viewed" = 0.5
"""


@pytest.mark.parametrize(("seed", "window", "bucket", "h"), [
    (9, 14, 86400, 3.0), (21, 7, 3600, 0.0), (33, 30, 21600, 6.5)])
def test_replay_equals_the_naive_reference(tmp_path: Path, seed: int, window: int, bucket: int, h: float) -> None:
    events, model = tmp_path / "events.jsonl", tmp_path / "model.toml"
    write(Config(events=6000, accounts=80, days=45, seed=seed, window_days=window, late_rate=0.01), events)
    model.write_text(MODEL.format(window=window, bucket=bucket, h=h))
    r = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(events), "--model", str(model),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ref_scores, ref_changes, ref_summary = naive_run(str(events), str(model))
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert {k: summary[k] for k in ref_summary} == ref_summary
    assert ref_summary["late"] > 0 and ref_summary["duplicate"] > 0 and ref_summary["invalid"] > 0
    mine = [orjson.loads(x) for x in (tmp_path / "out" / "scores.jsonl").read_bytes().splitlines()]
    assert [(s["account"], s["band"]) for s in mine] == [(s["account"], s["band"]) for s in ref_scores]
    assert all(abs(a["score"] - b["score"]) <= 1e-6 for a, b in zip(mine, ref_scores, strict=True))
    changes = [orjson.loads(x) for x in (tmp_path / "out" / "changes.jsonl").read_bytes().splitlines()]
    assert len(changes) == len(ref_changes)
    for i, (a, b) in enumerate(zip(changes, ref_changes, strict=True)):
        assert (a["account"], a["from"], a["to"], a["at"]) == (b["account"], b["from"], b["to"], b["at"]), i
        assert abs(a["score"] - b["score"]) <= 1e-6, i
