"""`pulse replay` as a user runs it: files in, files out, deterministic, gzip, bad model."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import scoring

LINES = [
    {"type": "group", "userId": "u1", "groupId": "acct-1", "timestamp": "2026-11-01T09:00:00Z"},
    {"type": "track", "event": "Teammate Invited", "userId": "u1", "messageId": "m1",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"type": "track", "event": "Teammate Invited", "userId": "u1", "messageId": "m1",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"batch": [{"type": "track", "event": "Report Exported", "userId": "u2",
                "timestamp": "2026-11-02T10:00:00Z"}], "context": {"groupId": "acct-2"}},
    {"type": "track", "event": "Login", "userId": "u3", "timestamp": "2026-12-15T10:00:00Z"},
]


def write_events(path: Path) -> None:
    body = b"\n".join(orjson.dumps(x) for x in LINES) + b"\n\nnot json\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)


def run(events: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`pulse replay`; `--now` defaults to an instant after every event here (the wall clock would
    make the 2026-12-15 event future or not depending on when the test runs)."""
    now = () if "--now" in extra else ("--now", "2027-01-01T00:00:00Z")
    return subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(events), "--out", str(out),
                           *now, *extra], capture_output=True, text=True, timeout=120)


def read(out: Path) -> dict[str, bytes]:
    return {n: (out / n).read_bytes() for n in ("scores.jsonl", "changes.jsonl", "summary.json")}


def test_replay_outputs_are_byte_identical_and_gzip_reads_the_same(tmp_path: Path) -> None:
    plain, gz = tmp_path / "ev.jsonl", tmp_path / "ev.jsonl.gz"
    write_events(plain)
    write_events(gz)
    for i, src in enumerate((plain, plain, gz)):
        r = run(src, tmp_path / f"out{i}")
        assert r.returncode == 0, r.stderr
        # the summary says which scoring modules ran (the same choice `import scoring` made here)
        assert ("compiled (mypyc)" if scoring.IMPLEMENTATION == "native" else "pure Python") in r.stderr
    first = read(tmp_path / "out0")
    assert read(tmp_path / "out1") == first
    assert read(tmp_path / "out2") == first
    summary = orjson.loads(first["summary.json"])
    # 3 accepted (acct-1 once, acct-2, u3), 1 duplicate (m1 again), 1 invalid line; group is none of them
    assert {k: summary[k] for k in ("accepted", "duplicate", "late", "invalid", "accounts")} == {
        "accepted": 3, "duplicate": 1, "late": 0, "invalid": 1, "accounts": 3}
    scores = [orjson.loads(x) for x in first["scores.jsonl"].splitlines()]
    assert [s["account"] for s in scores] == ["acct-1", "acct-2", "u3"]


@pytest.mark.parametrize(("now", "accepted", "invalid"), [
    ("2026-12-15T09:55:00Z", 3, 1),  # u3's 10:00 event is exactly 5 min ahead: not more, valid
    ("2026-12-15 09:54:59.999999", 2, 2),  # 5 min + 1 µs ahead: future_timestamp
    ("2026-12-15T11:54:00+02:00", 2, 2),  # 09:54Z
    ("2026-11-01T09:30:00Z", 0, 5),  # after the group call (09:00), before every scored event
])
def test_now_sets_the_instant_of_the_future_skew_rule(tmp_path: Path, now: str, accepted: int,
                                                      invalid: int) -> None:
    events = tmp_path / "ev.jsonl"
    write_events(events)
    r = run(events, tmp_path / "out", "--now", now)
    assert r.returncode == 0, r.stderr
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert (summary["accepted"], summary["invalid"]) == (accepted, invalid)
    if invalid > 1:
        assert "future_timestamp=" in r.stderr


def test_a_bad_now_is_exit_2(tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    write_events(events)
    r = run(events, tmp_path / "out", "--now", "tomorrow")
    assert r.returncode == 2 and "--now" in r.stderr and "Traceback" not in r.stderr


def test_a_bad_model_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    events, model = tmp_path / "ev.jsonl", tmp_path / "bad.toml"
    write_events(events)
    model.write_text("[score]\nhalf_life = 3\n")
    r = run(events, tmp_path / "out", "--model", str(model))
    assert r.returncode == 2
    assert "bad.toml" in r.stderr and "score.half_life" in r.stderr and "unknown key" in r.stderr
    assert "Traceback" not in r.stderr


def test_scores_export_health_needs_a_health_model(tmp_path: Path) -> None:
    model = tmp_path / "m.toml"
    model.write_text("[score]\nmode = 'window'\n[weights]\n'Login' = 1\n")
    r = subprocess.run([sys.executable, "-m", "streams.cli", "scores", "export", str(tmp_path / "s.jsonl"),
                        "--model", str(model), "--health", str(tmp_path / "h.jsonl")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "the model has no [health] table" in r.stderr
    assert not (tmp_path / "s.jsonl").exists()
