"""Retry stage: exponential backoff with jitter, scheduled in Redis, never a sleep in the consumer.

A failed, retryable send is moved, in one MULTI with its XACK, into the channel's retry ZSET
(`keys.retry`, score = epoch second it is due; member = the entry's fields as JSON). The
scheduler (`move_due`, one Lua script, so a crash cannot lose or double an entry) puts due
entries back on the channel's stream, where any worker picks them up as a new attempt.

Delay before attempt n+1 (n = attempts made): the receiver's `Retry-After` when it gave one
(clamped to `retry_after_max_seconds`), else "equal jitter" on `min(cap, base * 2**(n-1))`:
half of it fixed, half uniformly random, so retries of many alerts spread out but none is
retried sooner than half the nominal backoff.
"""

from __future__ import annotations

import random

import orjson
from redis.asyncio import Redis

from streams.notify.config import NotifierSettings
from streams.notify.entry import Entry
from streams.notify.keys import Keys


def backoff(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after `attempts` (>= 1) failed sends: equal jitter on a capped exponential."""
    nominal = min(cap, base * 2.0 ** min(attempts - 1, 62))
    return nominal / 2 + rng.uniform(0, nominal / 2)


def delay(attempts: int, retry_after: float | None, cfg: NotifierSettings, rng: random.Random) -> float:
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cfg.retry_after_max_seconds)
    return backoff(attempts, base=cfg.backoff_base_seconds, cap=cfg.backoff_cap_seconds, rng=rng)


def should_retry(retryable: bool, attempts: int, max_attempts: int) -> bool:
    """Pure: another attempt when the error is retryable and attempts are left."""
    return retryable and attempts < max_attempts


def member(entry: Entry) -> str:
    """The ZSET member: the next attempt's stream fields, as a flat JSON object of strings."""
    return orjson.dumps(entry.fields()).decode()


# KEYS[1] the retry ZSET, KEYS[2] the channel stream; ARGV[1] now (epoch s), ARGV[2] max entries.
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local f = cjson.decode(m)
  local args = {}
  for k, v in pairs(f) do
    args[#args + 1] = k
    args[#args + 1] = tostring(v)
  end
  redis.call('XADD', KEYS[2], '*', unpack(args))
  redis.call('ZREM', KEYS[1], m)
end
return #due
"""


class Scheduler:
    """Moves due retries of one channel back onto its stream."""

    def __init__(self, redis: Redis, keys: Keys, channel: str) -> None:
        self._script = redis.register_script(_MOVE_DUE)
        self._keys = [keys.retry(channel), keys.stream(channel)]

    async def move_due(self, now: float, limit: int = 500) -> int:
        return int(await self._script(keys=self._keys, args=[repr(now), limit]))
