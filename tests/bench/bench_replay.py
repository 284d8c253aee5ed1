"""Replay benchmark: `pulse replay` on generated telemetry, timed as a whole process.

    python -m tests.bench.bench_replay [--events 1000000 --accounts 10000]

Prints JSON: for the window and the decay model, scored events/s and the child's peak RSS; then
the same window replay on (2x events over 2x the days: the same rate, twice the history) and
(events, 5x accounts) to show that memory follows accounts, not the length of the history (per
account the state is the bucket sums and the messageIds of at most the last two windows). Files are generated once (deterministic) and cached in /tmp.

Each replay runs on the compiled scoring modules (`make native`; the bench refuses to run without
a fresh build) and, as the baseline of the same run, the window replay of the main file also on
the pure-Python modules (`"scoring": "pure"`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

import scoring
from streams.dev.telemetry import Config, write

MODELS = {
    "window": "[score]\nmode = 'window'\nwindow_days = 30\nhysteresis = 2.0\n",
    "decay": "[score]\nmode = 'decay'\nhalf_life_days = 14\nhysteresis = 2.0\n",
}
WEIGHTS = ("[weights]\n'Login' = 1\n'Feature Used' = 0.5\n'Report Exported' = 5\n'Teammate Invited' = 10\n"
           "'Support Ticket Opened' = -3\n'Page Viewed' = 0.5\n")


_WRAPPER = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(u.ru_maxrss, u.ru_utime + u.ru_stime)\n"
)


def data_file(events: int, accounts: int, days: int = 90) -> Path:
    name = f"pulse-bench-{events}-{accounts}" + ("" if days == 90 else f"-{days}d") + ".jsonl"
    path = Path(tempfile.gettempdir()) / name
    if not path.exists():
        write(Config(events=events, accounts=accounts, days=days, seed=1), path, progress=True)
    return path


def replay_once(events: Path, model: str, work: Path, impl: str = "native") -> dict[str, object]:
    model_path = work / "model.toml"
    model_path.write_text(MODELS[model] + WEIGHTS)
    out = work / f"out-{model}"
    cmd = [sys.executable, "-m", "streams.cli", "replay", str(events), "--model", str(model_path),
           "--out", str(out), "--no-progress",
           # the generated history runs from 2026-08-01 for --days (180 in the long file): a fixed
           # instant after all of it, so the wall clock's future-skew rule rejects none of it
           "--now", "2030-01-01T00:00:00Z"]
    t = time.perf_counter()
    # a wrapper process reports its own child's usage: peak RSS and CPU of this replay alone
    r = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], check=True, capture_output=True, text=True,
                       env={**os.environ, "PULSE_SCORING": impl})
    wall = time.perf_counter() - t
    maxrss_kb, cpu_s = r.stdout.split()
    summary = orjson.loads((out / "summary.json").read_bytes())
    scored = summary["accepted"] + summary["duplicate"] + summary["late"]
    return {"model": model, "scoring": impl, "file": events.name, "scored_events": scored, "invalid": summary["invalid"],
            "accounts": summary["accounts"], "wall_s": round(wall, 2),
            "cpu_s": round(float(cpu_s), 2), "scored_events_per_s": round(scored / wall),
            "peak_rss_mb": round(int(maxrss_kb) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pulse-replay-bench-"))
    results = []
    if not scoring.compiled_is_fresh():
        sys.exit("bench_replay: no fresh compiled build of scoring (run `make native`)")
    for events, accounts, days, runs in (
            (a.events, a.accounts, 90, [("window", "native"), ("decay", "native"), ("window", "pure")]),
            (a.events * 2, a.accounts, 180, [("window", "native")]),  # same rate, twice the history
            (a.events, a.accounts * 5, 90, [("window", "native")])):
        path = data_file(events, accounts, days)
        for model, impl in runs:
            results.append(replay_once(path, model, work, impl))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"bench": "replay", "machine_cores": 2, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
