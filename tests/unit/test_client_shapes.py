"""The held-out check: a file of the shapes real clients send (streams/dev/client_shapes.py: integer
ids, originalTimestamp/sentAt/receivedAt, every ISO form, `context: []`, alias/delete, anonymous
group calls, envelopes, sizes, future times, malformed calls), replayed by `pulse replay` with a
window and a decay model, agrees with the independent naive reference (tests/reference/naive.py)
on every account's score and band, each account's change sequence, and the counts."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from streams.dev.client_shapes import NOW_ISO, NOW_US, Config, write
from tests.reference.naive import iso_us as naive_iso_us
from tests.reference.naive import run as naive_run

MODEL = """
[score]
mode = "{mode}"
window_days = 14
bucket_seconds = {bucket}
hysteresis = {h}
half_life_days = {half_life}
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
"Screen Viewed" = 2
"""

CASES = [("window", 21600, 3.0, 14, 5), ("decay", 86400, 2.0, 3, 11), ("window", 86400, 0.0, 14, 17)]


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


@pytest.mark.parametrize(("mode", "bucket", "h", "half_life", "seed"), CASES)
def test_client_shapes_replay_equals_the_naive_reference(tmp_path: Path, mode: str, bucket: int, h: float,
                                                         half_life: int, seed: int) -> None:
    events, model, out = tmp_path / "shapes.jsonl", tmp_path / "model.toml", tmp_path / "out"
    write(Config(events=3000, accounts=24, seed=seed), events)
    model.write_text(MODEL.format(mode=mode, bucket=bucket, h=h, half_life=half_life))
    r = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(events), "--model", str(model),
                        "--out", str(out), "--now", NOW_ISO], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    ref_scores, ref_changes, ref_summary = naive_run(str(events), str(model), now_us=NOW_US, skew_s=300)

    summary = orjson.loads((out / "summary.json").read_bytes())
    assert {k: summary[k] for k in ref_summary} == ref_summary
    # the file exercises what it claims to (so agreement is not vacuous)
    assert ref_summary["duplicate"] > 0 and ref_summary["invalid"] > 20 and ref_summary["accounts"] > 20
    assert (ref_summary["late"] > 0) == (mode == "window")

    mine = _jsonl(out / "scores.jsonl")
    assert [(s["account"], s["band"]) for s in mine] == [(s["account"], s["band"]) for s in ref_scores]
    for a, b in zip(mine, ref_scores, strict=True):
        assert abs(a["score"] - b["score"]) <= 1e-6, a["account"]

    def per_account(changes: list[dict]) -> dict[str, list[tuple]]:
        seqs: dict[str, list[tuple]] = defaultdict(list)
        for c in changes:
            seqs[c["account"]].append((c["from"], c["to"], c["at"], round(c["score"], 6)))
        return dict(seqs)

    changes = _jsonl(out / "changes.jsonl")
    assert per_account(changes) == per_account(ref_changes)
    assert [(c["account"], c["from"], c["to"], c["at"]) for c in changes] == \
        [(c["account"], c["from"], c["to"], c["at"]) for c in ref_changes]


def test_the_held_out_file_holds_every_shape(tmp_path: Path) -> None:
    """The generator really emits the shapes the check is about."""
    events = tmp_path / "shapes.jsonl"
    write(Config(events=3000, accounts=24, seed=5), events)
    text = events.read_bytes()
    docs = []
    for line in text.splitlines():
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(d, dict):
            docs.extend([x for x in d["batch"] if isinstance(x, dict)] if isinstance(d.get("batch"), list) else [d])
    assert any(type(d.get("groupId")) is int and d.get("type") == "group" for d in docs)
    assert any(type(d.get("userId")) is int for d in docs)
    assert any(isinstance(d.get("context"), dict) and type(d["context"].get("groupId")) is int for d in docs)
    assert any(isinstance(d.get("properties"), dict) and type(d["properties"].get("accountId")) is int
               for d in docs)
    assert any(d.get("context") == [] for d in docs)
    assert any(d.get("type") == "alias" for d in docs) and any(d.get("type") == "delete" for d in docs)
    assert any(d.get("type") == "group" and "anonymousId" in d and "userId" not in d for d in docs)
    assert any("originalTimestamp" in d and "sentAt" in d and "receivedAt" in d and "timestamp" not in d
               for d in docs)
    stamps = [d["timestamp"] for d in docs if isinstance(d.get("timestamp"), str)]
    assert any(s.endswith("z") for s in stamps) and any(s[10] == " " for s in stamps if len(s) > 10)
    assert any(s[-5] in "+-" and s[-3] != ":" for s in stamps if len(s) > 19)  # ±HHMM
    assert any(len(s) == 26 for s in stamps)  # no zone, 6 fraction digits
    assert any(len(s.split(".")[-1]) == 10 for s in stamps if "." in s)  # 9 digits + Z
    assert b"2538-02-07" in text and any(len(line) > 500_000 for line in text.splitlines())


def test_the_naive_reference_reproduces_the_hand_computed_clients_example() -> None:
    """The oracle itself is checked against the hand-computed tests/data/clients/ example."""
    data = Path(__file__).resolve().parents[1] / "data" / "clients"
    scores, changes, summary = naive_run(str(data / "events.jsonl"), str(data / "model.toml"),
                                         now_us=naive_iso_us("2026-11-04T14:00:00Z"))
    want = orjson.loads((data / "expected_summary.json").read_bytes())
    want.pop("seconds")
    assert summary == want
    assert scores == _jsonl(data / "expected_scores.jsonl")
    assert changes == _jsonl(data / "expected_changes.jsonl")
