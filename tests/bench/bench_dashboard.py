"""Dashboard benchmark: page and API latency with 100k accounts loaded, and memory per account.

    flock /tmp/pulse-bench.lock python -m tests.bench.bench_dashboard [--accounts 100000]
        [--events 1000000] [--requests 200] [--memory-accounts 1000000]

Prints JSON.

1. Latency. Telemetry for `--accounts` accounts is generated (streams.dev.telemetry) and scored
   by the pure core with the health model of tests/data/health; every account's state is dumped
   in the worker's changelog format (`[partition, offset, state, traits]` + the partition's meta
   record; traits get industry / csm / mrr values besides the generator's plan). A child process
   loads those records with the dashboard's own path (`Follower.apply`: derive + upsert), reports
   the load rate and its RSS, and serves the real aiohttp app. The parent then requests `/`,
   `/api/portfolio`, `/at-risk` and `/api/at-risk` `--requests` times each, one at a time, and
   prints p50 / p95 / max in ms. The child runs with the portfolio cache off, so every request
   recomputes (a live pipeline changes the model between requests): the worst case.
2. Memory. `--memory-accounts` synthetic snapshots (3 top events, health components, 2 ticket
   subjects, 4 traits) each with the full 92 days of history are upserted into a `ReadModel` in a
   child process; its RSS growth per account is printed (what the "1M accounts in 1 GB" budget is
   about). No Kafka is involved in either part: the bench measures the dashboard, not the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "data" / "health" / "model.toml"
INDUSTRIES = ("fintech", "retail", "health", "media", "logistics", "edu")
CSMS = ("Ana", "Ben", "Chen", "Dana", "Eve", "Femi", "Gus", "Hana")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def make_changelog(accounts: int, events: int, out: Path) -> dict[str, Any]:
    """Score generated telemetry with the core; write the changelog records as JSON lines."""
    from scoring.change import Change
    from scoring.feed import Feed
    from scoring.model import load_model
    from streams.dev.telemetry import Config, generate

    t0 = time.perf_counter()
    feed, changes = Feed(load_model(MODEL)), list[Change]()
    for line in generate(Config(events=events, accounts=accounts, days=60, single_user=True)):
        feed.feed(line, changes)
        changes.clear()
    sc = feed.scorer
    with out.open("wb") as f:
        for k, account in enumerate(sorted(sc.accounts)):
            traits = {**feed.resolver.traits(account), "industry": INDUSTRIES[k % len(INDUSTRIES)],
                      "csm": CSMS[k % len(CSMS)], "mrr": (k % 40) * 25}
            value = orjson.dumps([0, k, sc.dump_account(account), traits])
            f.write(orjson.dumps([account, value.decode()]) + b"\n")
        meta = orjson.dumps({"p": 0, "offset": 0, "scorer": sc.dump_meta()})
        f.write(orjson.dumps(["\x00meta:0", meta.decode()]) + b"\n")
    return {"accounts": len(sc.accounts), "events": events, "score_seconds": round(time.perf_counter() - t0, 1)}


def serve(records: Path) -> None:
    """The child: load the records with the dashboard's code, print a JSON line, serve."""
    from aiohttp import web
    from aiokafka import TopicPartition

    from scoring.model import load_model
    from streams.dashboard.run import build
    from streams.settings import Settings

    class Rec:
        __slots__ = ("key", "offset", "value")

        def __init__(self, key: bytes, value: bytes) -> None:
            self.key, self.value, self.offset = key, value, 0

    base = rss_mb()
    dash = build(Settings(kafka_bootstrap="127.0.0.1:1"), load_model(MODEL))
    dash.views.cache = False
    fol = dash.follower
    pairs = [orjson.loads(x) for x in records.read_bytes().splitlines()]
    batch = [Rec(pairs[-1][0].encode(), pairs[-1][1].encode())]  # the meta first
    t0 = time.perf_counter()
    fol.apply({TopicPartition("t", 0): batch})
    tp = TopicPartition("t", 0)
    for i in range(0, len(pairs) - 1, 5000):
        fol.apply({tp: [Rec(k.encode(), v.encode()) for k, v in pairs[i:i + 5000]]}, metas=False)
    load_s = time.perf_counter() - t0
    del pairs, batch
    fol.ready, fol.phase = True, "following"

    async def main() -> None:
        runner = web.AppRunner(dash.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(json.dumps({"port": port, "accounts": fol.rm.scored, "load_seconds": round(load_s, 2),
                          "derive_per_second": round(fol.rm.scored / load_s),
                          "rss_mb_before": round(base, 1), "rss_mb_loaded": round(rss_mb(), 1),
                          "model_bytes": fol.rm.nbytes()}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def latency(url: str, paths: list[str], n: int) -> dict[str, Any]:
    out = {}
    with httpx.Client(timeout=30) as c:
        for path in paths:
            for _ in range(3):
                c.get(url + path).raise_for_status()
            times = []
            size = 0
            for _ in range(n):
                t0 = time.perf_counter()
                r = c.get(url + path)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                size = len(r.content)
            times.sort()
            out[path] = {"p50_ms": round(times[len(times) // 2], 1),
                         "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                         "max_ms": round(times[-1], 1), "bytes": size, "requests": n}
    return out


def memory(n: int) -> None:
    """The child of part 2: n synthetic snapshots with 92 days of history; prints JSON."""
    from scoring.trend import DAY_US
    from streams.contracts.snapshot import AccountSnapshot, Engagement, Health
    from streams.dashboard.derive import Derived
    from streams.dashboard.model import ReadModel

    weights = {"Report Exported": 5.0, "Login": 1.0, "Teammate Invited": 10.0, "Support Ticket Opened": -3.0}
    rm = ReadModel(92, weights=weights, trend_days=7)
    base = rss_mb()
    day0 = 20_000
    c = rm.contrib  # 7 days ago each account had three lifting events (bench only: whole columns at once)
    c._last = array("i", [day0 + 91]) * n
    nids = [c.nid(x) for x in ("Report Exported", "Login", "Teammate Invited")]
    for day in range(day0 + 84, day0 + 92):
        s = day % c.days
        c._ids[s] = [array("H", [nid]) * n for nid in nids]
        c._counts[s] = [array("H", [cnt]) * n for cnt in (6, 15, 2)]
    t0 = time.perf_counter()
    bands = ("at_risk", "red", "yellow", "green", "thriving")
    top = ({"event": "Report Exported", "count": 4, "points": 20.0},
           {"event": "Login", "count": 12, "points": 12.0},
           {"event": "Support Ticket Opened", "count": 1, "points": -3.0})
    for i in range(n):
        score = (i * 7919) % 130 - 10.0
        h = Health(score / 2 + 30, bands[i % 5], {"usage": min(max(score, 0), 100), "nps": 70.0,
                                                  "support": 80.0, "billing": 100.0, "onboarding": 50.0},
                   "onboarding", None, None, ("Export fails on large CSV", None))
        snap = AccountSnapshot(f"acct-{i:07d}", "", "", Engagement(score, bands[i % 5], score - 3, 3.0), h, top,
                               {"plan": ("free", "trial", "team", "enterprise")[i % 4],
                                "industry": INDUSTRIES[i % 6], "csm": CSMS[i % 8], "mrr": (i % 40) * 25})
        rm.upsert(Derived(snap, (day0 + 91) * DAY_US, (day0 + 90) * DAY_US, [], [], (i % 40) * 25.0, "trait",
                          {"Report Exported": 4, "Login": 12, "Teammate Invited": 1}))  # 3 events lost
    secs = time.perf_counter() - t0
    hist = rm.history  # the other 91 days, one column at a time (as full as the ring gets)
    for day in range(day0, day0 + 91):
        hist.record(0, day, 1.0, 1.0, 2, 2)  # (bench only: fills whole columns at once)
        s = day % hist.days
        hist._eng[s] = array("h", range(n)) if n < 32767 else array("h", (k % 30000 for k in range(n)))
        hist._packed[s] = array("H", (k % 60000 for k in range(n)))
    grown = rss_mb() - base
    assert len(rm.events_lost(n - 1)) == 3 and c.at(n - 1, day0 + 84) is not None
    print(json.dumps({"accounts": n, "history_days": 92, "history_points": len(rm.history.series(n - 1)),
                      "contribution_days": c.days, "rss_mb_growth": round(grown, 1),
                      "bytes_per_account": round(grown * 1024 * 1024 / n), "model_bytes": rm.nbytes(),
                      "contrib_bytes": c.nbytes(),
                      "upserts_per_second": round(n / secs)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--memory-accounts", type=int, default=1_000_000)
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve)
        return
    if a.memory_child:
        memory(a.memory_child)
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()}}
    cache = Path(f"/tmp/pulse-bench-dashboard-{a.accounts}-{a.events}.jsonl")
    if not cache.exists():
        result["changelog"] = make_changelog(a.accounts, a.events, cache)
    proc = subprocess.Popen([sys.executable, "-m", "tests.bench.bench_dashboard", "--serve", str(cache)],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        loaded = json.loads(proc.stdout.readline())
        result["load"] = loaded
        url = f"http://127.0.0.1:{loaded['port']}"
        t0 = time.perf_counter()  # the first portfolio also reads every account's band 7 days ago
        httpx.get(url + "/api/portfolio", timeout=120).raise_for_status()
        result["load"]["first_portfolio_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        result["latency"] = latency(url, ["/", "/api/portfolio", "/at-risk", "/api/at-risk"], a.requests)
        result["load"]["rss_mb_after_requests"] = round(rss_mb(proc.pid), 1)
    finally:
        proc.terminate()
        proc.wait(10)
    if a.memory_accounts:
        out = subprocess.run([sys.executable, "-m", "tests.bench.bench_dashboard", "--memory-child",
                              str(a.memory_accounts)], env=env, capture_output=True, text=True, check=True)
        result["memory"] = json.loads(out.stdout)
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
