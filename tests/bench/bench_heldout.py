"""Held-out equality check: a large generated file through the real worker on one partition,
compared with the independent naive implementation (tests/reference/naive.py).

Not in the default test run (minutes). The seed (398) is used by no other bench or test.

    PYTHONPATH=. python -m tests.bench.bench_heldout [--events 400000] [--accounts 20000]

Steps: generate the file; `produce` it into a fresh topic prefix; run `pulse worker` on one
partition until its group has caught up; read every alert on the alerts topic and export the
final scores (`pulse scores export`'s code). The naive implementation runs over the same file.
Checked, and printed as JSON:
- every account's final score (1e-6) and band: worker export == naive;
- every account's alert sequence (from, to, at, score), in order: worker alerts == the pure
  core's changes (what `pulse replay` writes), and the pure core's changes (plus its end-of-stream
  advance) == naive's changes, in order, one by one. The worker does not write the end-of-stream
  advance as alerts (there is no end of stream), which is why the core is the link for those.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from scoring.model import load_model
from streams.dev.telemetry import Config, write
from tests.integration.stream_harness import Pipeline, core_run, expected_alerts, per_account
from tests.reference.naive import run as naive_run

SEED = 398
MODEL = """
[score]
mode = "window"
window_days = 30
hysteresis = 3.0
[bands]
at_risk_below = 0.0
red_max = 40.0
yellow_max = 70.0
green_max = 100.0
[weights]
"Login" = 1
"Page Viewed" = 0.5
"Feature Used" = 0.5
"Report Exported" = 5
"Dashboard Shared" = 4
"Teammate Invited" = 10
"Integration Connected" = 15
"Support Ticket Opened" = -4
"Payment Failed" = -10
"Subscription Downgraded" = -20
"""
KEYS = ("from", "to", "at", "score")


def _at(v: str) -> int:
    d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    return int(d.timestamp()) * 1_000_000 + d.microsecond


def _norm(rows: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    return per_account([{**r, "at": _at(r["at"]), "score": round(r["score"], 6)} for r in rows], KEYS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400_000)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--bootstrap", default="127.0.0.1:19092")
    a = ap.parse_args(argv)
    out: dict[str, Any] = {"seed": SEED, "events": a.events, "accounts": a.accounts}
    with tempfile.TemporaryDirectory(prefix="pulse-heldout-") as d:
        tmp = Path(d)
        events, model_path = tmp / "heldout.jsonl", tmp / "model.toml"
        model_path.write_text(MODEL)
        model = load_model(model_path)
        t0 = time.perf_counter()
        write(Config(events=a.events, accounts=a.accounts, days=60, seed=SEED, window_days=30), events)
        out["lines"] = sum(1 for _ in events.open("rb"))
        p = Pipeline(a.bootstrap, tmp, partitions=1, model_path=model_path)
        try:
            p.start()
            t1 = time.perf_counter()
            out["records_produced"] = p.produce(events)
            p.wait_caught_up(timeout=1200)
            out["worker_s"] = round(time.perf_counter() - t1, 1)
            alerts = p.alerts()
            exported = p.export(model)
        except BaseException:
            log = (tmp / "worker.log").read_text(errors="replace")
            first = log.find("Traceback")
            print(log[max(0, first - 2000):first + 6000], file=sys.stderr)
            raise
        finally:
            p.stop()
        t2 = time.perf_counter()
        ref_scores, ref_changes, ref_summary = naive_run(str(events), str(model_path))
        out["naive_s"] = round(time.perf_counter() - t2, 1)
        _core_scores, core_changes, core_end = core_run(events, model)
        out["naive_summary"] = ref_summary
        out["alerts"], out["accounts_scored"] = len(alerts), len(exported)

        naive_by = {r["account"]: r for r in ref_scores}
        mine = {r["account"]: r for r in exported}
        bad_scores = [k for k in naive_by.keys() | mine.keys()
                      if k not in naive_by or k not in mine or mine[k]["band"] != naive_by[k]["band"]
                      or abs(mine[k]["score"] - naive_by[k]["score"]) > 1e-6]
        out["scores_equal"], out["scores_differing"] = not bad_scores, len(bad_scores)

        seen: set[str] = set()  # a redelivery may repeat an alert id; compare first occurrences
        unique = [x for x in alerts if not (x["alert_id"] in seen or seen.add(x["alert_id"]))]
        out["alert_repeats"] = len(alerts) - len(unique)
        core_alerts = expected_alerts(core_changes)
        worker_seq, core_seq = _norm(unique), _norm(core_alerts)
        diff = [k for k in worker_seq.keys() | core_seq.keys() if worker_seq.get(k) != core_seq.get(k)]
        out["worker_alerts_equal_core"], out["accounts_alerts_differing"] = not diff, len(diff)

        core_all = expected_alerts(core_changes + core_end)
        naive_alerts = [c for c in ref_changes if c["from"] is not None]
        naive_seq, core_all_seq = _norm(naive_alerts), _norm(core_all)
        ndiff = [k for k in naive_seq.keys() | core_all_seq.keys() if naive_seq.get(k) != core_all_seq.get(k)]
        out["core_changes_equal_naive"], out["accounts_changes_differing_naive"] = not ndiff, len(ndiff)
        out["naive_alerts"], out["core_alerts_live"] = len(naive_alerts), len(core_alerts)
        out["total_s"] = round(time.perf_counter() - t0, 1)
        out["equal"] = not bad_scores and not diff and not ndiff
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    return 0 if out["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
