"""The hostile corpus through `pulse replay`, one good event before every hostile line: replay
exits 0, counts every bad event invalid (by reason, where the corpus pins one), and scores every
good event beside them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from scoring.model import load_model
from streams.offline.replay import replay
from tests.hostile import Case, load

NOW = "2027-01-01T00:00:00Z"  # tests.hostile.NOW_US
GOOD_POINTS = 10.0  # "Teammate Invited" in the default model


def good(i: int) -> bytes:
    return orjson.dumps({"type": "track", "event": "Teammate Invited", "context": {"groupId": f"good-{i}"},
                         "messageId": f"good-{i}", "timestamp": "2026-11-01T00:00:00Z"})


def replayable(c: Case) -> bool:
    """One line of a file: no raw newline inside, not blank (replay skips blank lines)."""
    return b"\n" not in c.raw and bool(c.raw.strip())


def write(cases: list[Case], path: Path) -> None:
    with path.open("wb") as f:
        for i, c in enumerate(cases):
            f.write(good(i) + b"\n" + c.raw + b"\n")


def run_cli(path: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(path), "--out", str(out),
                           "--now", NOW, "--no-progress"], capture_output=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


def test_replay_counts_every_bad_event_and_scores_the_good_ones(tmp_path: Path) -> None:
    cases = [c for c in load() if c.pinned and replayable(c)]
    assert len(cases) >= 200
    path = tmp_path / "hostile.jsonl"
    write(cases, path)
    proc = run_cli(path, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert summary["invalid"] == sum(c.invalid for c in cases)
    assert summary["accepted"] + summary["duplicate"] + summary["late"] == len(cases) + sum(c.scored for c in cases)
    scores = {r["account"]: r for r in map(orjson.loads, (tmp_path / "out" / "scores.jsonl").read_bytes().splitlines())}
    for i in range(len(cases)):
        assert scores[f"good-{i}"]["score"] == GOOD_POINTS

    # the reasons, in process (the CLI prints them in a table)
    from scoring.timefmt import parse_iso_us
    from streams.settings import get_settings
    result = replay(path, load_model(None), tmp_path / "out2", now_us=parse_iso_us(NOW),
                    max_future_skew_us=int(get_settings().max_future_skew_seconds * 1_000_000))
    pinned = Counter(e.split(":", 1)[1] for c in cases for e in c.expect if e.startswith("invalid:"))
    for reason, n in pinned.items():
        assert result.invalid_reasons.get(reason, 0) >= n, (reason, n, result.invalid_reasons)


def test_replay_survives_the_cases_without_a_pinned_outcome(tmp_path: Path) -> None:
    cases = [c for c in load() if not c.pinned and replayable(c)]
    assert cases
    write(cases, tmp_path / "any.jsonl")
    proc = run_cli(tmp_path / "any.jsonl", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert summary["accepted"] >= len(cases)  # the good events
