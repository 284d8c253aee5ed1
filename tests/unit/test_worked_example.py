"""The public worked example (tests/data/worked/, arithmetic in EXAMPLE.md) through `pulse replay`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parents[1] / "data" / "worked"


def lines(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def replay(out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(DATA / "events.jsonl"),
                        "--model", str(DATA / "model.toml"), "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_worked_example_matches_the_hand_computed_expectations(tmp_path: Path) -> None:
    replay(tmp_path)
    got_changes = lines(tmp_path / "changes.jsonl")
    want_changes = lines(DATA / "expected_changes.jsonl")
    for i, (got, want) in enumerate(zip(got_changes, want_changes, strict=False)):
        assert got == want, f"change #{i + 1}: got {got}, want {want}"
    assert len(got_changes) == len(want_changes)
    assert lines(tmp_path / "scores.jsonl") == lines(DATA / "expected_scores.jsonl")
    assert orjson.loads((tmp_path / "summary.json").read_bytes()) == orjson.loads(
        (DATA / "expected_summary.json").read_bytes())


def test_worked_example_is_byte_identical_across_runs(tmp_path: Path) -> None:
    replay(tmp_path / "a")
    replay(tmp_path / "b")
    for name in ("scores.jsonl", "changes.jsonl", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
