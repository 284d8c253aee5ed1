"""Deterministic generator of the payload shapes real Segment-style clients send.

    python -m streams.dev.client_shapes --events 4000 --seed 5 --out shapes.jsonl

Where `streams.dev.telemetry` makes volume, this makes variety, each shape at a steady rate:

- ids as strings or integers: analytics-python's `group(group_id=4242)` (a JSON number), PHP's
  integer `userId`, integer `context.groupId` / `properties.accountId` / `messageId`; the same
  account named `4242` and `"4242"`;
- every event-time shape: `timestamp` alone (`Z`, `z`, `±HH:MM`, `±HHMM`, a space instead of `T`,
  no zone, 3/6/9 fraction digits), `timestamp` beside a garbage `sentAt` (ignored),
  RudderStack's `originalTimestamp` + `sentAt` (+ `receivedAt` as an ingest stamps it) with client
  clock skew, `originalTimestamp` alone, `receivedAt` alone;
- `context: []` / `properties: []` / `traits: []` (PHP's empty map), `alias` and `delete` calls,
  anonymous visitors whose `group` call maps their later events, a `group` from an anonymousId
  followed by events under the same id as a userId (one namespace of senders);
- batch envelopes with a `context` and `sentAt`/`receivedAt` applying to their elements;
- faults: client retries (same messageId), out-of-order and late arrivals, events in the future
  (minutes past `now`, the year 2538), oversize events alone and in a batch, an event that is large
  only because of `\\u` escapes (valid), a record over 500,000 bytes, and malformed calls of each
  kind the rules reject.

Event times fall in the `days` days before `now` (default 2026-10-01 .. 2026-12-01), so a replay
with `--now 2026-12-01T00:00:00Z` treats the few future ones as the rules say.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

US = 1_000_000
DAY = 86_400 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW_ISO = "2026-12-01T00:00:00Z"
NOW_US = int((datetime(2026, 12, 1, tzinfo=UTC) - EPOCH).total_seconds()) * US
NAMES = ["Login", "Report Exported", "Feature Used", "Teammate Invited", "Support Ticket Opened",
         "Payment Failed", "Dashboard Shared"]
# Malformed calls, one of each kind the rules reject (timestamps filled in at emission).
BAD: list[dict[str, Any]] = [
    {"type": "track", "event": "Login", "userId": True},
    {"type": "track", "event": "Login", "userId": "u-x", "context": {"groupId": 4242.0}},
    {"type": "track", "event": "Login", "userId": "u-x", "properties": {"accountId": False}},
    {"type": "track", "event": "Login", "userId": "u-x", "messageId": 1.5},
    {"type": "track", "event": 7, "userId": "u-x"},
    {"type": "track", "userId": "u-x"},
    {"type": "track", "event": "Login", "userId": "u-x", "context": [1]},
    {"type": "track", "event": "Login", "userId": "u-x", "context": "acct"},
    {"type": "identify", "userId": "u-x", "traits": "plan"},
    {"type": "track", "event": "Login", "context": {}},  # resolves to no account
    {"type": "screenview", "userId": "u-x"},
    {"userId": "u-x", "event": "Login"},
    {"type": "group", "userId": "u-x"},
    {"type": "group", "groupId": 77},
    {"type": "group", "groupId": 77, "userId": 3.0},
]
BAD_TIMES: list[dict[str, Any]] = [
             {"timestamp": "2026-11-02"}, {"timestamp": 1793614500}, {"timestamp": "yesterday"},
             {"timestamp": "2026-11-02T10:15:00,5Z"}, {"timestamp": "2026-11-02T24:00:00Z"},
             {"originalTimestamp": "2026-11-02T10:15"}, {"receivedAt": "20261102T101500Z"},
             {"originalTimestamp": "2026-11-02T10:15:00Z", "sentAt": "soon",
              "receivedAt": "2026-11-02T10:15:02Z"}, {}]
BAD_LINES = [b"{not json", b"[1, 2]", b'"track"', b'{"batch": {"type": "track"}}', b'{"batch": null}']


@dataclass
class Config:
    events: int = 4000
    accounts: int = 30
    days: int = 60
    seed: int = 5
    now_us: int = NOW_US
    window_days: int = 14


def fmt(t: int, rnd: random.Random) -> str:
    """`t` (µs) in one of the ISO forms clients send."""
    dt = EPOCH + timedelta(microseconds=t)
    base = f"{dt:%Y-%m-%d}T{dt:%H:%M:%S}"
    k = rnd.randrange(10)
    if k == 0:
        return base + "Z"
    if k == 1:
        return base + "z"
    if k == 2:  # analytics-next / JS toISOString
        return f"{base}.{dt.microsecond // 1000:03d}Z"
    if k == 3:  # analytics-python: isoformat() of an aware datetime
        return dt.isoformat()
    if k == 4:
        off = rnd.choice([2, -5, 5.5, -9.75, 0])
        return (dt.astimezone(timezone(timedelta(hours=off)))).isoformat()
    if k == 5:
        local = dt.astimezone(timezone(timedelta(hours=2)))
        return f"{local:%Y-%m-%dT%H:%M:%S}+0200"
    if k == 6:
        return f"{dt:%Y-%m-%d} {dt:%H:%M:%S}Z"
    if k == 7:  # no zone: UTC
        return f"{base}.{dt.microsecond:06d}"
    if k == 8:  # nanoseconds: digits past µs are dropped
        return f"{base}.{dt.microsecond:06d}{rnd.randrange(1000):03d}Z"
    return f"{dt:%Y-%m-%d} {dt:%H:%M:%S}"


def times(t: int, rnd: random.Random, envelope: bool = False) -> dict[str, Any]:
    """The time fields of an event whose true time is `t`."""
    k = rnd.randrange(10)
    if envelope:  # the envelope carries sentAt/receivedAt
        return {"originalTimestamp": fmt(t + rnd.choice([0, 3600 * US, -7 * 60 * US]), rnd)}
    if k < 4:
        return {"timestamp": fmt(t, rnd)}
    if k == 4:
        return {"timestamp": fmt(t, rnd), "sentAt": rnd.choice(["garbage", 17, "2026-13-45"])}
    if k < 8:  # RudderStack: client clock skewed, server stamps receivedAt
        skew = rnd.choice([0, 90 * US, -3600 * US, 2 * DAY])
        delay = rnd.randrange(50_000, 4 * US)
        d = {"originalTimestamp": fmt(t + skew, rnd), "sentAt": fmt(t + skew + delay, rnd)}
        if k < 7:
            d["receivedAt"] = fmt(t + delay + rnd.randrange(0, 300_000), rnd)
        return d
    if k == 8:
        return {"originalTimestamp": fmt(t, rnd)}
    return {"receivedAt": fmt(t, rnd)}


def generate(cfg: Config) -> Iterator[bytes]:
    rnd = random.Random(cfg.seed)
    start = cfg.now_us - cfg.days * DAY
    accts: list[int | str] = [1000 + i if i % 2 else f"acct-{i}" for i in range(cfg.accounts)]
    users: list[tuple[int | str, int | str]] = []  # (user, account)
    for i, a in enumerate(accts):
        for j in range(rnd.randint(1, 3)):
            users.append((50_000 + i * 10 + j if rnd.random() < 0.3 else f"u-{i}-{j}", a))
    visitors = [(f"anon-{i}", rnd.choice(accts)) for i in range(cfg.accounts // 2)]
    out: list[tuple[int, int, bytes]] = []  # (arrival, seq, line)
    seq = 0

    def emit(arrival: int, doc: Any) -> None:
        nonlocal seq
        seq += 1
        out.append((arrival, seq, doc if isinstance(doc, bytes) else orjson.dumps(doc)))

    for u, a in users:  # group calls first: analytics-python sends an integer groupId as a number
        emit(start - DAY, {"type": "group", "userId": u, "groupId": a, "traits": {"plan": "team"},
                           **times(start - DAY, rnd)})
    msg = 0
    for _ in range(cfg.events):
        t = start + rnd.randrange(cfg.days * DAY)
        msg += 1
        r = rnd.random()
        d: dict[str, Any]
        if r < 0.06:  # an anonymous visitor: a group call, then events with no account hint
            v, a = rnd.choice(visitors)
            if rnd.random() < 0.3:
                d = {"type": "group", "anonymousId": v, "groupId": a if rnd.random() < 0.5 else str(a)}
            elif rnd.random() < 0.2:  # the same id as a userId: one namespace
                d = {"type": "track", "event": rnd.choice(NAMES), "userId": v}
            else:
                d = {"type": rnd.choice(["track", "page", "screen"]), "event": rnd.choice(NAMES),
                     "anonymousId": v}
        elif r < 0.10:
            u, a = rnd.choice(users)
            d = rnd.choice([{"type": "identify", "userId": u, "context": [], "traits": []},
                            {"type": "identify", "anonymousId": f"anon-{msg}", "traits": {"x": 1}},
                            {"type": "alias", "userId": u, "previousId": f"anon-{msg}"},
                            {"type": "delete", "userId": u, "context": []},
                            {"type": "group", "userId": u, "groupId": rnd.choice(accts)}])
        elif r < 0.14:
            bad = dict(rnd.choice(BAD))
            emit(t, {**bad, **times(t, rnd)} if rnd.random() < 0.7 else {
                **{"type": "track", "event": "Login", "userId": "u-x"}, **rnd.choice(BAD_TIMES)})
            continue
        else:
            u, a = rnd.choice(users)
            typ = rnd.choices(["track", "page", "screen"], [85, 10, 5])[0]
            d = {"type": typ, "userId": u}
            if typ == "track":
                d["event"] = rnd.choice(NAMES)
            where = rnd.random()
            if where < 0.3:
                d["context"] = {"groupId": a, "library": {"name": "analytics-python"}}
            elif where < 0.4:
                d["context"] = {"groupId": str(a)}
            elif where < 0.55:
                d["properties"] = {"accountId": a, "plan": "team"}
            elif where < 0.65:
                d["context"], d["properties"] = [], []
        if rnd.random() < 0.8:
            d["messageId"] = msg if rnd.random() < 0.2 else f"m-{cfg.seed}-{msg}"
        d.update(times(t, rnd))
        arrival = t
        k = rnd.random()
        if k < 0.03:
            arrival = t + rnd.randrange(1, 12) * 3600 * US
        elif k < 0.04:
            arrival = t + (cfg.window_days + rnd.randrange(1, 4)) * DAY
        emit(arrival, d)
        if rnd.random() < 0.02:  # a client retry
            emit(arrival + rnd.choice([60, 3600, 2 * 86_400]) * US, d)
    # future events: within the skew (valid), past it (invalid), absurd
    for off in (2 * 60 * US, 10 * 60 * US):
        emit(cfg.now_us - DAY // 2, {"type": "track", "event": "Login", "userId": users[0][0],
                                     "timestamp": fmt(cfg.now_us + off, rnd)})
    for when in ("2538-02-07T00:00:00Z", "9999-12-31T23:59:59Z"):
        emit(start + 3 * DAY, {"type": "track", "event": "Teammate Invited", "userId": users[1][0],
                               "timestamp": when})
    # sizes
    big = "x" * 33_000
    emit(start + DAY, {"type": "track", "event": "Login", "userId": users[2][0],
                       "properties": {"blob": big}, "timestamp": fmt(start + DAY, rnd)})
    esc = ('{"type": "track", "event": "Login", "userId": "' + str(users[2][0]) + '", "properties": '
           '{"note": "' + "\\u00e9" * 12_000 + '"}, "timestamp": "' + fmt(start + 2 * DAY, rnd) + '"}')
    emit(start + 2 * DAY, esc.encode())  # 72 KB raw, 24 KB as compact UTF-8: valid
    emit(start + 2 * DAY, {"batch": [{"type": "track", "event": "Login", "userId": users[3][0],
                                      "properties": {"blob": big}, "timestamp": fmt(start + 2 * DAY, rnd)},
                                     {"type": "track", "event": "Login", "userId": users[3][0],
                                      "timestamp": fmt(start + 2 * DAY, rnd)}]})
    emit(start + 4 * DAY, {"batch": [{"type": "track", "event": "Login", "userId": users[4][0],
                                      "properties": {"blob": "y" * 30_000},
                                      "timestamp": fmt(start + 4 * DAY, rnd)}] * 17})  # > 500 KB
    for line in BAD_LINES:
        emit(start + rnd.randrange(cfg.days * DAY), line)
    out.sort()
    # batch envelopes: runs of consecutive single events, envelope context + sentAt/receivedAt
    i = 0
    while i < len(out):
        arrival, _, line = out[i]
        if rnd.random() < 0.05:
            chunk = out[i:i + rnd.randint(1, 5)]
            i += len(chunk)
            els: list[Any] = []
            for _, _, ln in chunk:
                try:
                    el = orjson.loads(ln) if len(ln) < 2000 else None
                except orjson.JSONDecodeError:
                    el = None
                if not isinstance(el, dict) or "batch" in el:
                    yield ln
                    continue
                if "originalTimestamp" in el and rnd.random() < 0.5:
                    el.pop("sentAt", None)
                    el.pop("receivedAt", None)
                els.append(el)
            if rnd.random() < 0.1:
                els.append(rnd.choice([17, "x", {"batch": []}]))
            env: dict[str, Any] = {"batch": els, "sentAt": fmt(arrival, rnd),
                                   "receivedAt": fmt(arrival + rnd.randrange(US), rnd)}
            if rnd.random() < 0.7:
                env["context"] = rnd.choice([{"library": {"name": "analytics-node"}},
                                             {"groupId": rnd.choice(accts)}, [], "ctx"])
            yield orjson.dumps(env)
            continue
        yield line
        i += 1


def write(cfg: Config, out: Path) -> int:
    n = 0
    with out.open("wb") as f:
        for line in generate(cfg):
            f.write(line + b"\n")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--accounts", type=int, default=30)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    n = write(Config(events=a.events, accounts=a.accounts, seed=a.seed), a.out)
    print(f"{n:,} lines -> {a.out} (replay with --now {NOW_ISO})")


if __name__ == "__main__":
    main()
