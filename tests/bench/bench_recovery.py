"""Ready-after-kill: seconds from a worker's kill -9 (restarted at once) to `/ready` 200, and to
having scored an event produced after the kill, for consumer-group membership variants.

    flock /tmp/pulse-bench.lock python -m tests.bench.bench_recovery [--runs 2] [--variants default,tuned,static]

Variants (PULSE_WORKER_* settings):
- `default`: Faust's session timeout (60 s), heartbeat 3 s, dynamic membership;
- `tuned`: session 10 s, heartbeat 1 s;
- `static`: static membership (KIP-345, `worker_instance_id`), session 60 s;
- `static_tuned`: both.

Each run: start a worker, score a first batch, kill -9 it, restart it immediately, produce a
second batch, and time `/ready` and the second batch. Then a crash loop: kill -9 two seconds
after the restart, restart again, time `/ready`. Needs the real broker (KAFKA_BOOTSTRAP). Prints
JSON with every run's figures and the median per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.integration.stream_harness import Pipeline

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "tuned": {"PULSE_WORKER_SESSION_TIMEOUT": "10", "PULSE_WORKER_HEARTBEAT_INTERVAL": "1"},
    "static": {"PULSE_WORKER_INSTANCE_ID": "bench-worker-0"},
    "static_tuned": {"PULSE_WORKER_INSTANCE_ID": "bench-worker-0", "PULSE_WORKER_SESSION_TIMEOUT": "10",
                     "PULSE_WORKER_HEARTBEAT_INTERVAL": "1"},
}


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(pred: Any, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def batch(path: Path, tag: str, n: int = 200) -> Path:
    lines = [orjson.dumps({"type": "track", "event": "Login", "context": {"groupId": f"{tag}-{i % 20}"},
                           "messageId": f"{tag}-{i}", "timestamp": "2026-11-01T00:00:00Z"}) for i in range(n)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def one_run(variant: str, bootstrap: str, tmp: Path) -> dict[str, Any]:
    saved = dict(os.environ)
    os.environ.update(VARIANTS[variant])
    p = Pipeline(bootstrap, tmp)
    try:
        p.start()
        assert wait(lambda: ready(p.web_port), 120) is not None, p.log_tail()
        p.produce(batch(tmp / "a.jsonl", "a"))
        p.wait_caught_up(timeout=120)
        p.kill()
        killed = time.monotonic()
        p.start()
        p.produce(batch(tmp / "b.jsonl", "b"))
        to_ready = wait(lambda: ready(p.web_port), 240)
        p.wait_caught_up(timeout=240, settle=0.5)
        caught_up = time.monotonic() - killed
        # crash loop: killed again 2 s after the restart
        p.kill()
        p.start()
        time.sleep(2)
        p.kill()
        p.start()
        loop_ready = wait(lambda: ready(p.web_port), 300)
        return {"variant": variant, "ready_after_kill_s": _r(to_ready), "caught_up_after_kill_s": _r(caught_up),
                "ready_after_crash_loop_s": _r(loop_ready)}
    finally:
        p.stop()
        os.environ.clear()
        os.environ.update(saved)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--variants", default="default,tuned,static,static_tuned")
    args = ap.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    runs = []
    for _ in range(args.runs):
        for v in args.variants.split(","):
            with tempfile.TemporaryDirectory() as d:
                runs.append(one_run(v, bootstrap, Path(d)))
                print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for v in args.variants.split(","):
        mine = [r for r in runs if r["variant"] == v]
        summary[v] = {k: statistics.median([r[k] for r in mine if r[k] is not None] or [float("nan")])
                      for k in ("ready_after_kill_s", "caught_up_after_kill_s", "ready_after_crash_loop_s")}
    print(json.dumps({"bench": "recovery", "runs": runs, "median": summary, "load": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
