"""Deterministic generator of realistic Segment telemetry for tests and benchmarks.

    python -m streams.dev.telemetry --events 1000000 --accounts 10000 --seed 7 --out ev.jsonl.gz

Accounts follow one of five profiles (steady, declining, churned -> goes silent, growing,
power user), have 1-4 users (a share are B2C users with no account), and send track / page /
screen events plus group and identify calls. Faults, each at a configurable rate: client retries
of the same messageId (minutes to days later), out-of-order arrival (hours late), events later
than the window (late), batch envelopes, and malformed lines of several kinds. (The shapes real
clients send, integer ids, RudderStack times and so on, come from `streams.dev.client_shapes`.) Lines are in
arrival order; timestamps span `--days` days from 2026-08-01.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

START = 1_785_542_400  # 2026-08-01T00:00:00Z
DAY = 86_400
NAMES = [("Login", 30), ("Report Exported", 10), ("Dashboard Shared", 4), ("Teammate Invited", 2),
         ("Integration Connected", 1), ("Support Ticket Opened", 3), ("Feature Used", 20),
         ("NPS Submitted", 1), ("Invoice Paid", 1), ("Payment Failed", 1), ("Subscription Downgraded", 1)]
PROFILES = ("steady", "declining", "churned", "growing", "power")
BAD_LINES = [
    b'{"type": "track", "event": "Login", "userId": ',  # truncated
    b"not json at all",
    b'{"type": "track", "event": "Login", "userId": true, "timestamp": "2026-08-02T10:00:00Z"}',
    b'{"type": "track", "event": "Login", "userId": "u-x", "timestamp": "2026-08-02"}',
    b'{"type": "purchase", "userId": "u-x", "timestamp": "2026-08-02T10:00:00Z"}',
    b'{"type": "track", "event": "Login", "timestamp": "2026-08-02T10:00:00Z"}',
    b'{"batch": "nope"}',
    b'[1, 2, 3]',
    b'{"type": "track", "event": "Login", "userId": "u-x", "context": "ctx", '
    b'"timestamp": "2026-08-02T10:00:00Z"}',
]


@dataclass
class Config:
    events: int = 100_000
    accounts: int = 1_000
    days: int = 90
    seed: int = 7
    single_user: bool = False  # one user per account, no B2C (per-account order survives partitioning)
    retry_rate: float = 0.01
    ooo_rate: float = 0.02
    late_rate: float = 0.002
    batch_rate: float = 0.02
    bad_rate: float = 0.003
    window_days: int = 30


_DAYS: list[str] = []


def _init_days(n: int) -> None:
    from datetime import UTC, datetime, timedelta

    base = datetime.fromtimestamp(START, UTC)
    _DAYS[:] = [(base + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(-400, n + 400)]
    global START_IDX
    START_IDX = 400


START_IDX = 400


def _iso_ts(t: float) -> str:
    s = int(t)
    days, rem = divmod(s - START, DAY)
    return f"{_DAYS[days + START_IDX]}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}Z"


def _rate(profile: str, day: int, days: int, churn_day: int) -> float:
    x = day / max(days - 1, 1)
    if profile == "steady":
        return 1.0
    if profile == "declining":
        return max(0.05, 1.2 - x)
    if profile == "churned":
        return 1.0 if day < churn_day else 0.0
    if profile == "growing":
        return 0.2 + 1.6 * x
    return 4.0  # power user


def generate(cfg: Config) -> Iterator[bytes]:
    rnd = random.Random(cfg.seed)
    _init_days(cfg.days)
    names = [n for n, _ in NAMES]
    weights = [w for _, w in NAMES]
    accounts = []
    for i in range(cfg.accounts):
        profile = PROFILES[i % len(PROFILES)]
        b2c = not cfg.single_user and rnd.random() < 0.1
        users = [f"u{i}-{j}" for j in range(1 if (b2c or cfg.single_user) else rnd.randint(1, 4))]
        accounts.append((f"acct-{i:06d}", profile, users, b2c, rnd.randint(cfg.days // 4, cfg.days * 3 // 4),
                         rnd.choice(["free", "trial", "team", "enterprise"])))
    base_rates = [_rate(a[1], d, cfg.days, a[4]) for a in accounts for d in (cfg.days // 2,)]
    per_day = cfg.events / max(1e-9, sum(base_rates)) / cfg.days
    heap: list[tuple[float, int, bytes]] = []
    seq = 0

    def push(arrival: float, line: bytes) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (arrival, seq, line))

    for acct, _profile, users, b2c, _churn, plan in accounts:  # group calls first
        if not b2c:
            for u in users:
                push(START - 3600 + rnd.random(), orjson.dumps(
                    {"type": "group", "userId": u, "groupId": acct, "traits": {"plan": plan},
                     "timestamp": _iso_ts(START - 3600)}))
    emitted = 0
    msg = 0
    for day in range(cfg.days):
        day_start = START + day * DAY
        for acct, profile, users, b2c, churn, _plan in accounts:
            lam = per_day * _rate(profile, day, cfg.days, churn)
            n = _poisson(rnd, lam)
            for _ in range(n):
                t = day_start + rnd.random() * DAY
                user = rnd.choice(users)
                msg += 1
                kind = rnd.random()
                d: dict[str, Any]
                if kind < 0.08:
                    d = {"type": "page", "userId": user, "properties": {"path": "/home"}}
                elif kind < 0.10:
                    d = {"type": "screen", "userId": user}
                else:
                    name = rnd.choices(names, weights)[0]
                    d = {"type": "track", "event": name, "userId": user, "properties": {}}
                    if name == "NPS Submitted":
                        d["properties"]["score"] = rnd.randint(0, 10)
                    if name == "Support Ticket Opened":
                        d["properties"]["subject"] = rnd.choice(["login", "billing", "export"])
                where = rnd.random()
                if not b2c:
                    if where < 0.5:
                        d["context"] = {"groupId": acct}
                    elif where < 0.6:
                        d.setdefault("properties", {})["accountId"] = acct
                d["messageId"] = f"m{cfg.seed}-{msg}"
                d["timestamp"] = _iso_ts(t)
                line = orjson.dumps(d)
                arrival = t
                r = rnd.random()
                if r < cfg.ooo_rate:
                    arrival = t + rnd.uniform(1, 12) * 3600
                elif r < cfg.ooo_rate + cfg.late_rate:
                    arrival = t + (cfg.window_days + rnd.uniform(1, 5)) * DAY
                push(arrival, line)
                if rnd.random() < cfg.retry_rate:
                    push(arrival + rnd.choice([60, 600, 3 * 3600, 2 * DAY]), line)
                if rnd.random() < cfg.bad_rate:
                    push(t, rnd.choice(BAD_LINES))
        horizon = day_start + DAY
        batch: list[bytes] = []
        while heap and heap[0][0] < horizon:
            _, _, line = heapq.heappop(heap)
            if rnd.random() < cfg.batch_rate and line.startswith(b'{"type":"track"'):
                batch.append(line)
                if len(batch) >= 3:
                    yield _envelope(batch)
                    emitted += len(batch)
                    batch = []
                continue
            yield line
            emitted += 1
        if batch:
            yield _envelope(batch)
    while heap:
        yield heapq.heappop(heap)[2]


def _envelope(lines: list[bytes]) -> bytes:
    return orjson.dumps({"batch": [orjson.loads(x) for x in lines], "context": {"library": {"name": "gen"}}})


def _poisson(rnd: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rnd.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def write(cfg: Config, out: Path, progress: bool = False) -> int:
    n = 0
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wb") as f:
        for line in generate(cfg):
            f.write(line + b"\n")
            n += 1
            if progress and n % 100_000 == 0:
                print(f"\r{n:,} lines", end="", file=sys.stderr)
    if progress:
        print(f"\r{n:,} lines -> {out}", file=sys.stderr)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--single-user", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    write(Config(events=a.events, accounts=a.accounts, days=a.days, seed=a.seed, single_user=a.single_user),
          a.out, progress=True)


if __name__ == "__main__":
    main()
