"""The hostile input corpus (tests/data/hostile/cases.jsonl): load it, and say what Pulse made of
each case. Shared by the unit, replay and broker tests; any file in the same format (a held-out
corpus) can be passed instead of the default."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import orjson

from scoring.calls import Rejected
from scoring.engine import Resolver
from scoring.events import parse_message

CORPUS = Path(__file__).resolve().parent / "data" / "hostile" / "cases.jsonl"
# The wall clock the unit test parses at (replay and the worker use the real one): every case's
# timestamp that is meant to be in the past is before it, year 2538 and 9999 are after it.
NOW_US = 1_798_761_600_000_000  # 2027-01-01T00:00:00Z
SKEW_US = 300_000_000


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: list[str]

    @property
    def scored(self) -> int:
        return self.expect.count("scored")

    @property
    def invalid(self) -> int:
        return sum(1 for e in self.expect if e.startswith("invalid"))

    @property
    def pinned(self) -> bool:
        """Every outcome is pinned (no `any`)."""
        return "any" not in self.expect


def load(path: Path = CORPUS) -> list[Case]:
    cases = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        d = orjson.loads(line)
        raw = base64.b64decode(d["b64"]) if "b64" in d else d["text"].encode("utf-8")
        for x in d.get("expand", []):
            raw = raw.replace(x["at"].encode(), x["unit"].encode("utf-8") * x["times"])
        cases.append(Case(d["name"], raw, list(d["expect"])))
    return cases


def outcomes(raw: bytes, now_us: int | None = NOW_US) -> list[str]:
    """What the parser and the account resolver make of one record, one token per event."""
    got = []
    resolver = Resolver()
    for item in parse_message(raw, now_us=now_us, max_future_skew_us=SKEW_US):
        routed = item if isinstance(item, Rejected) else resolver.route(item)
        if isinstance(routed, Rejected):
            got.append(f"invalid:{routed.reason}")
        elif routed is None:
            got.append("valid")
        else:
            got.append("scored")
    return got


def matches(expect: list[str], got: list[str]) -> bool:
    if "any" in expect:
        return True
    if len(expect) != len(got):
        return False
    return all(e == g or (e == "invalid" and g.startswith("invalid:")) for e, g in zip(expect, got, strict=True))
