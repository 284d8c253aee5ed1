"""One worker alone over a fixed events file: wall time, CPU per record, and where the rest went.

    flock /tmp/pulse-bench.lock python -m tests.bench.bench_worker [--tree DIR] [--events 50000] [--runs 1]

Made for bisecting the worker's throughput: `--tree` runs the worker of another checkout (e.g. a
detached `git worktree` of an old commit, with its own `scripts/build_native.py` build), while
this checkout generates the data, creates the topics and watches the consumer group. The worker
command (`python -m streams.cli worker --model M --partitions 1 ...`) and the topic names are the
same since before the re-cut, so it runs on old commits too.

Each run: a fresh topic prefix, the generated file produced to its `events`, one worker started;
timed from the group's first commit on `events` until it has committed everything on `events` and
`scored` (the span `pulse bench stream` calls the pipeline). Over that span it reads, from /proc:
- the worker's CPU seconds (utime + stime of /proc/PID/stat) -> `cpu_us_per_record`;
- every thread's run time and run-queue wait (/proc/PID/task/*/schedstat): `runq_wait_s` is time
  the worker was ready but the machine's other work had the cores;
- `idle_s` = wall - run - run-queue wait: time the worker waited on its own (sleeps, the broker,
  timeouts). Near 0 means CPU-bound; threads that overlap can make it slightly negative.
CPU per record and idle time are far less sensitive to a shared machine's load than records/s.
Prints one JSON line per run, with the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from streams.dev.bench import BENCH_MODEL
from streams.dev.produce import produce_file
from streams.dev.stack import stop_child
from streams.dev.telemetry import Config, write
from streams.kafka import try_group_lag, wait_caught_up
from streams.settings import Settings
from streams.topics import TopicNames, create_topics

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sched_seconds(pid: int) -> tuple[float, float]:
    """(run, run-queue wait) summed over the process's live threads."""
    run = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            a, b, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (FileNotFoundError, ValueError):
            continue
        run += int(a)
        wait += int(b)
    return run / 1e9, wait / 1e9


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def first_commit(bootstrap: str, group: str, topic: str) -> None:
    while not any((x.committed or 0) > 0 for x in await try_group_lag(bootstrap, group, [topic]) or []):
        await asyncio.sleep(0.1)


def run_once(bootstrap: str, tree: Path, data: Path, records: int, work: Path) -> dict[str, Any]:
    model = work / "model.toml"
    model.write_text(BENCH_MODEL)
    prefix = f"bw{uuid.uuid4().hex[:6]}."
    s = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, data_dir=work / prefix / "data")
    names = TopicNames.from_settings(s)
    create_topics(s, 1)
    asyncio.run(produce_file(data, bootstrap, names.events))
    env = {**os.environ, "PYTHONPATH": str(tree), "KAFKA_BOOTSTRAP": bootstrap, "PULSE_TOPIC_PREFIX": prefix,
           "PULSE_DATA_DIR": str(s.data_dir)}
    env.pop("PULSE_SCORING", None)  # the tree's compiled build when it is fresh
    scoring = subprocess.run([sys.executable, "-c", "import scoring; print(scoring.IMPLEMENTATION)"], cwd=tree,
                             env=env, capture_output=True, text=True).stdout.strip()
    load_start = load1()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker", "--model", str(model),
                             "--partitions", "1", "--web-port", "0", "--loglevel", "warning"],
                            cwd=tree, env=env, stdout=(work / f"{prefix}log").open("wb"), stderr=subprocess.STDOUT)
    try:
        asyncio.run(first_commit(bootstrap, names.worker_app, names.events))
        t1, c1, s1 = time.perf_counter(), cpu_seconds(proc.pid), sched_seconds(proc.pid)
        asyncio.run(wait_caught_up(bootstrap, names.worker_app, [names.events, names.scored], timeout=3600))
        t2, c2, s2 = time.perf_counter(), cpu_seconds(proc.pid), sched_seconds(proc.pid)
    finally:
        stop_child(proc, 30)
    wall = t2 - t1
    return {"tree": str(tree), "scoring": scoring, "records": records, "startup_s": round(t1 - t0, 2), "wall_s": round(wall, 2),
            "records_per_s": round(records / wall), "cpu_s": round(c2 - c1, 2),
            "cpu_us_per_record": round((c2 - c1) / records * 1e6, 1),
            "runq_wait_s": round(s2[1] - s1[1], 2), "idle_s": round(wall - (s2[0] - s1[0]) - (s2[1] - s1[1]), 2),
            "load_start": load_start, "load_end": load1(), "prefix": prefix}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout whose worker runs (default: this one)")
    ap.add_argument("--events", type=int, default=50_000, help="generated events (seed 7)")
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-worker-"))
    data = work / "events.jsonl"
    write(Config(events=a.events, accounts=a.accounts, seed=7, batch_rate=0.0), data)
    with data.open("rb") as f:
        records = sum(1 for _ in f)
    for _ in range(a.runs):
        print(json.dumps(run_once(bootstrap, a.tree.resolve(), data, records, work)), flush=True)


if __name__ == "__main__":
    main()
