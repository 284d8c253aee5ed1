"""`pulse scores export` scores the worker's state with the worker's own model (recorded in
that state), on the real broker: without --model it agrees with replay under the worker's model;
a different --model is refused unless --force."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from scoring.model import parse_model
from streams.dev.telemetry import Config, write
from tests.integration.stream_harness import core_run
from tests.integration.test_stream_pipeline import WINDOW_MODEL

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_export_uses_the_workers_model_by_default_and_refuses_another(pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=3000, accounts=40, days=30, seed=4, window_days=14), events)
    model_path = tmp_path / "model.toml"
    model_path.write_text(WINDOW_MODEL)
    p = pipeline(model_path=model_path)
    p.produce(events)
    p.start()
    p.wait_caught_up()
    env = p.env()

    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams.cli", "scores", "export", *args],
                              env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    out = tmp_path / "scores.jsonl"
    done = export(str(out))
    assert done.returncode == 0, done.stderr
    mine = {r["account"]: r for r in map(orjson.loads, out.read_bytes().splitlines())}
    want, _, _ = core_run(events, parse_model(WINDOW_MODEL))
    assert {r["account"] for r in want} == set(mine)
    for r in want:  # the worker's model (14-day window, hysteresis), not the packaged default
        assert mine[r["account"]]["band"] == r["band"]
        assert abs(mine[r["account"]]["score"] - r["score"]) <= 1e-6
    default = ROOT / "scoring" / "default_model.toml"
    refused = export(str(tmp_path / "other.jsonl"), "--model", str(default))
    assert refused.returncode == 2
    assert "fingerprint" in refused.stderr and "--force" in refused.stderr
    assert not (tmp_path / "other.jsonl").exists()
    forced = export(str(tmp_path / "forced.jsonl"), "--model", str(default), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "forced.jsonl").read_bytes() != out.read_bytes()  # another model, other bands
