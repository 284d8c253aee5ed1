"""The rate limit per write key of `pulse ingest`: one token bucket per source.

A source may send `burst` requests at once and `requests_per_second` on average (the bucket holds
at most `burst` tokens, refills at `requests_per_second`, and each request takes one). A request
that finds no token is answered 429 with `Retry-After`: the whole seconds until a token is back.
It is checked as soon as the source is known: before the body is read when the key comes in the
`Authorization` header (what the official clients do), after parsing when it comes as `writeKey`
in the body. Limits come from the write-key file (`streams/ingest/config.py`): `[rate_limit]` for
every source, `rate_limit = {...}` on a `[[source]]` for that one; none: unlimited.

Pure (the clock is passed in), one bucket per source for the process: with several ingest
processes behind a balancer each applies the limit on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.ingest.config import IngestConfig, RateLimit


@dataclass(slots=True)
class TokenBucket:
    rate: float   # tokens per second
    burst: float  # capacity
    tokens: float
    stamp: float  # the clock reading `tokens` was computed at

    def take(self, now: float) -> float:
        """Take one token: 0.0 if there was one, else the seconds until there will be one."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class Limited:
    source: str
    limit: RateLimit
    retry_after: int  # whole seconds, >= 1

    def message(self) -> str:
        return (f"source {self.source!r} is over its rate limit of {self.limit.requests_per_second:g} "
                f"requests/s (burst {self.limit.burst}): retry after {self.retry_after} s")


class RateLimits:
    """source name -> its bucket (sources without a limit have none)."""

    def __init__(self, config: IngestConfig, now: float) -> None:
        self._limits: dict[str, RateLimit] = {}
        self._buckets: dict[str, TokenBucket] = {}
        for src in config.source:
            limit = src.rate_limit or config.rate_limit
            if limit is not None:
                self._limits[src.name] = limit
                self._buckets[src.name] = TokenBucket(limit.requests_per_second, limit.burst,
                                                      limit.burst, now)

    def check(self, source: str, now: float) -> Limited | None:
        """None if `source` may send now (a token is taken), else how long it must wait."""
        bucket = self._buckets.get(source)
        if bucket is None:
            return None
        wait = bucket.take(now)
        if wait == 0.0:
            return None
        return Limited(source, self._limits[source], max(1, math.ceil(wait)))

    def __len__(self) -> int:
        return len(self._buckets)
