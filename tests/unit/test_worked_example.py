"""The public worked examples (tests/data/EXAMPLE.md): `pulse replay` must reproduce the outputs
that were written out by hand from the rules in docs/semantics.md.

The expected files in tests/data/example*_expected/ were NOT produced by the code under test;
each number is derived in tests/data/EXAMPLE.md. If this test fails, check the arithmetic in
EXAMPLE.md against docs/semantics.md before touching either side.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
OUTPUTS = ("scores.jsonl", "changes.jsonl", "summary.json")
TOL = 1e-9

CASES = {
    "window": ("example.jsonl", "example_model.toml", "example_expected"),
    "decay": ("example_decay.jsonl", "example_decay_model.toml", "example_decay_expected"),
}


def _replay(events: Path, model: Path, out: Path) -> dict[str, bytes]:
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(events), "--model", str(model), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"pulse replay exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def _show(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r, sort_keys=True) for r in rows]


def _diff(what: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str:
    lines = difflib.unified_diff(_show(want), _show(got), fromfile=f"expected {what}", tofile=f"replay {what}",
                                 lineterm="")
    return "\n".join(lines)


def _same_row(got: dict[str, Any], want: dict[str, Any]) -> bool:
    if set(got) != set(want):
        return False
    for key, value in want.items():
        if key == "score":
            if not isinstance(got[key], int | float) or abs(float(got[key]) - float(value)) > TOL:
                return False
        elif got[key] != value:
            return False
    return True


def _check_rows(what: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    ok = len(got) == len(want) and all(_same_row(g, w) for g, w in zip(got, want, strict=True))
    assert ok, f"{what} differs from the hand-computed expectation (scores compared to {TOL}):\n" + _diff(
        what, got, want)


@pytest.mark.parametrize("case", sorted(CASES))
def test_replay_reproduces_the_hand_computed_example(case: str, tmp_path: Path) -> None:
    events, model, expected = CASES[case]
    got = _replay(DATA / events, DATA / model, tmp_path / "run1")
    exp = DATA / expected

    want_scores = _jsonl((exp / "scores.jsonl").read_bytes())
    got_scores = _jsonl(got["scores.jsonl"])
    assert [r["account"] for r in got_scores] == sorted(r["account"] for r in got_scores), \
        "scores.jsonl is not sorted by account id"
    _check_rows("scores.jsonl", got_scores, want_scores)

    _check_rows("changes.jsonl", _jsonl(got["changes.jsonl"]), _jsonl((exp / "changes.jsonl").read_bytes()))

    want_summary = json.loads((exp / "summary.json").read_text())
    got_summary = json.loads(got["summary.json"])
    assert "seconds" in got_summary, "summary.json has no 'seconds'"
    got_summary.pop("seconds")
    assert got_summary == want_summary, (
        "summary.json differs (ignoring 'seconds'):\n"
        + "\n".join(f"  {k}: replay={got_summary.get(k)!r} expected={want_summary.get(k)!r}"
                    for k in sorted(set(got_summary) | set(want_summary))
                    if got_summary.get(k) != want_summary.get(k)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_replay_of_the_example_is_byte_identical_across_runs(case: str, tmp_path: Path) -> None:
    events, model, _ = CASES[case]
    first = _replay(DATA / events, DATA / model, tmp_path / "run1")
    second = _replay(DATA / events, DATA / model, tmp_path / "run2")
    # summary.json carries the wall time in "seconds": compare everything else byte for byte.
    for name in ("scores.jsonl", "changes.jsonl"):
        assert first[name] == second[name], f"{name} differs between two runs of the same input"
    s1, s2 = json.loads(first["summary.json"]), json.loads(second["summary.json"])
    s1.pop("seconds", None)
    s2.pop("seconds", None)
    assert s1 == s2


def test_expected_files_are_consistent_with_each_other() -> None:
    """The hand-written expectations agree among themselves (guards against a typo in one file)."""
    bands = {"at_risk", "red", "yellow", "green", "thriving"}
    for _, _, expected in CASES.values():
        exp = DATA / expected
        scores = _jsonl((exp / "scores.jsonl").read_bytes())
        changes = _jsonl((exp / "changes.jsonl").read_bytes())
        summary = json.loads((exp / "summary.json").read_text())
        accounts = [r["account"] for r in scores]
        assert accounts == sorted(accounts)
        assert summary["accounts"] == len(scores)
        assert summary["changes"] == len(changes)
        last: dict[str, str] = {}
        for ch in changes:
            assert ch["to"] in bands and ch["from"] == last.get(ch["account"]), ch
            assert ch["from"] != ch["to"]
            assert ch["at"].endswith("+00:00")
            last[ch["account"]] = ch["to"]
        assert last == {r["account"]: r["band"] for r in scores}


# --- The first worked example (tests/data/worked/, committed in 19eeecd, arithmetic in its EXAMPLE.md),
# --- kept as it was written: exact comparison, including its summary's "seconds".

WORKED = DATA / "worked"


def _worked_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def _worked_replay(out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(WORKED / "events.jsonl"),
                        "--model", str(WORKED / "model.toml"), "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_worked_example_matches_the_hand_computed_expectations(tmp_path: Path) -> None:
    _worked_replay(tmp_path)
    got_changes = _worked_lines(tmp_path / "changes.jsonl")
    want_changes = _worked_lines(WORKED / "expected_changes.jsonl")
    for i, (got, want) in enumerate(zip(got_changes, want_changes, strict=False)):
        assert got == want, f"change #{i + 1}: got {got}, want {want}"
    assert len(got_changes) == len(want_changes)
    assert _worked_lines(tmp_path / "scores.jsonl") == _worked_lines(WORKED / "expected_scores.jsonl")
    assert json.loads((tmp_path / "summary.json").read_bytes()) == json.loads(
        (WORKED / "expected_summary.json").read_bytes())


def test_worked_example_is_byte_identical_across_runs(tmp_path: Path) -> None:
    _worked_replay(tmp_path / "a")
    _worked_replay(tmp_path / "b")
    for name in ("scores.jsonl", "changes.jsonl", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# --- The client-shapes example (tests/data/clients/, arithmetic in its EXAMPLE.md): the Events rules for
# --- what real clients send (integer ids, RudderStack times, ISO forms, [] as absent, alias/delete,
# --- anonymous group calls, envelopes, sizes, future skew), replayed at a fixed --now.

CLIENTS = DATA / "clients"


def _clients_replay(out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(CLIENTS / "events.jsonl"),
                        "--model", str(CLIENTS / "model.toml"), "--out", str(out),
                        "--now", "2026-11-04T14:00:00Z"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_client_shapes_example_matches_the_hand_computed_expectations(tmp_path: Path) -> None:
    _clients_replay(tmp_path)
    got_changes = _worked_lines(tmp_path / "changes.jsonl")
    want_changes = _worked_lines(CLIENTS / "expected_changes.jsonl")
    for i, (got, want) in enumerate(zip(got_changes, want_changes, strict=False)):
        assert got == want, f"change #{i + 1}: got {got}, want {want}"
    assert len(got_changes) == len(want_changes)
    assert _worked_lines(tmp_path / "scores.jsonl") == _worked_lines(CLIENTS / "expected_scores.jsonl")
    assert json.loads((tmp_path / "summary.json").read_bytes()) == json.loads(
        (CLIENTS / "expected_summary.json").read_bytes())
