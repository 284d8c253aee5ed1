"""The hostile input corpus (tests/data/hostile/cases.jsonl): load it, and say what Pulse made of
each case. Shared by the unit, replay and broker tests; any file in the same format (a held-out
corpus) can be passed instead of the default."""

from __future__ import annotations

from scoring.calls import Rejected
from scoring.engine import Resolver
from scoring.events import parse_message
from streams.dev.corpus import CORPUS, Case, load

__all__ = ["CORPUS", "NOW_US", "SKEW_US", "Case", "load", "matches", "outcomes"]

# The wall clock the unit test parses at (replay and the worker use the real one): every case's
# timestamp that is meant to be in the past is before it, year 2538 and 9999 are after it.
NOW_US = 1_798_761_600_000_000  # 2027-01-01T00:00:00Z
SKEW_US = 300_000_000


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
