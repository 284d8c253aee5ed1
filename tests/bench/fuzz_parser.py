"""The long fuzz run of the event parser: 10^5 hypothesis-generated hostile records.

    python -m tests.bench.fuzz_parser [--inputs 100000] [--seed 20261130]

Each record goes through `tests.fuzzing.check` (parse, route, serialize what the worker would
write, parse again: same outcome). The run is reproducible from its seed. Prints JSON: the seed,
inputs tried, failures (with the first failing record, base64), outcomes by token, seconds.
The short, derandomized run of the same property is tests/unit/test_fuzz_parser.py.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import time
import traceback
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable

from tests.fuzzing import check, records


def run(inputs: int, seed_value: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    tried = 0

    @seed(seed_value)
    @settings(max_examples=inputs, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(records)
    def prop(raw: bytes) -> None:
        nonlocal tried
        tried += 1
        try:
            outcomes.update(check(raw))
        except Exception as exc:  # recorded, not raised: the run counts every failure
            if len(failures) < 20:
                failures.append({"error": f"{type(exc).__name__}: {exc}"[:300],
                                 "where": traceback.format_exc().strip().splitlines()[-3][:200],
                                 "record_b64": base64.b64encode(raw[:2000]).decode()})
            else:
                failures.append({})

    started = time.perf_counter()
    with contextlib.suppress(Unsatisfiable):
        prop()
    return {"bench": "fuzz_parser", "seed": seed_value, "inputs": tried, "failures": len(failures),
            "first_failures": [f for f in failures if f][:5], "outcomes": dict(sorted(outcomes.items())),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    print(json.dumps(run(args.inputs, args.seed), indent=2))


if __name__ == "__main__":
    main()
