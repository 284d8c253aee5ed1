"""`python -m tests.chaos` (also `pulse bench chaos`, `make chaos`): one chaos run, JSON verdict on
stdout, progress on stderr. Exit 0 on a pass, 1 on a failed verdict."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.run import ChaosConfig, Run


def main(argv: list[str] | None = None) -> int:
    d = ChaosConfig()
    ap = argparse.ArgumentParser(prog="pulse bench chaos", description=" ".join((__doc__ or "").split()))
    ap.add_argument("--events", type=int, default=d.events)
    ap.add_argument("--accounts", type=int, default=d.accounts)
    ap.add_argument("--days", type=int, default=d.days)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--worker-kills", type=int, default=d.worker_kills)
    ap.add_argument("--broker-restarts", type=int, default=d.broker_restarts)
    ap.add_argument("--redis-restarts", type=int, default=d.redis_restarts)
    ap.add_argument("--notifier-kills", type=int, default=d.notifier_kills)
    ap.add_argument("--fail-rate", type=float, default=d.fail_rate, help="receivers' failure rate")
    ap.add_argument("--session-timeout", type=float, default=d.session_timeout)
    ap.add_argument("--no-static-membership", action="store_true")
    ap.add_argument("--guarantee", default=None,
                    help="worker processing guarantee (PULSE_WORKER_PROCESSING_GUARANTEE), e.g. exactly_once")
    ap.add_argument("--route-to", default="at_risk,red",
                    help="bands routed to the two channels, comma-separated, or 'all'")
    ap.add_argument("--lead", type=int, default=d.lead, help="producer's lead over the worker (records)")
    ap.add_argument("--worker-loglevel", default=d.worker_loglevel,
                    help="the worker's --loglevel (info shows Faust's commit and rebalance lines)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run's folder here (logs, input)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON verdict here")
    a = ap.parse_args(argv)
    cfg = ChaosConfig(events=a.events, accounts=a.accounts, days=a.days, seed=a.seed,
                      worker_kills=a.worker_kills, broker_restarts=a.broker_restarts,
                      redis_restarts=a.redis_restarts, notifier_kills=a.notifier_kills,
                      fail_rate=a.fail_rate, session_timeout=a.session_timeout,
                      static_membership=not a.no_static_membership, guarantee=a.guarantee, lead=a.lead,
                      route_to=None if a.route_to == "all" else tuple(a.route_to.split(",")),
                      worker_loglevel=a.worker_loglevel)
    work = a.keep or Path(tempfile.mkdtemp(prefix="pulse-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # the harness's own producer and readers: a killed broker is the plan, not news
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop our broker/Redis/children on the way out
    load_before = os.getloadavg()
    try:
        result = Run(cfg, work, say=lambda s: print(s, file=sys.stderr, flush=True)).execute()
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    result["timing"]["total_s"] = round(time.monotonic() - t0, 1)
    result["load"] = {"before": [round(x, 2) for x in load_before],
                      "after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0 if result["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
