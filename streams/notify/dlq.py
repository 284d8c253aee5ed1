"""The dead-letter stream (`keys.dlq`): deliveries that used their N attempts, hit a permanent error,
or were not valid alerts at all. `pulse alerts dlq list | retry | purge` work on it.

Fields: `channel` ("" for an alert no channel could take), `alert_id`, `alert`, `route`, `cooldown`,
`attempts`, `last_error`, `failed_at` (epoch s), `handoff_at`. `retry` puts an entry back on its
channel's stream as a fresh first attempt and deletes it here, in one MULTI.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from streams.notify.entry import Entry
from streams.notify.keys import Keys


def entry_fields(entry: Entry, error: str, now: float) -> dict[str, str]:
    f = entry.fields()
    del f["attempt"]
    f.update(channel=entry.channel, attempts=str(entry.attempt), last_error=error[:2000],
             failed_at=repr(now))
    return f


def malformed_fields(raw: bytes | str, error: str, source: str, now: float) -> dict[str, str]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return {"channel": "", "alert_id": "", "alert": text[:8192], "route": "", "cooldown": "0",
            "attempts": "0", "last_error": f"malformed alert ({source}): {error}"[:2000],
            "failed_at": repr(now), "handoff_at": repr(now)}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    fields: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        f = self.fields
        try:
            alert: Any = orjson.loads(f.get("alert", ""))
        except orjson.JSONDecodeError:
            alert = f.get("alert")
        return {"id": self.id, "channel": f.get("channel", ""), "alert_id": f.get("alert_id", ""),
                "route": f.get("route", ""), "attempts": int(f.get("attempts", "0") or 0),
                "last_error": f.get("last_error", ""), "failed_at": float(f.get("failed_at", "0") or 0),
                "alert": alert}


async def list_entries(redis: Redis, keys: Keys, count: int | None = None) -> list[DeadLetter]:
    rows: Any = await redis.xrange(keys.dlq(), count=count)
    return [DeadLetter(i, dict(f)) for i, f in rows]


async def retry(redis: Redis, keys: Keys, ids: Sequence[str] | None = None) -> tuple[int, list[str]]:
    """Re-queue the given entries (all when `ids` is None); returns (re-queued, problems)."""
    problems: list[str] = []
    todo = await list_entries(redis, keys) if ids is None else []
    for i in ids or ():
        rows: Any = await redis.xrange(keys.dlq(), min=i, max=i)
        if not rows:
            problems.append(f"{i}: no such dead letter")
        todo.extend(DeadLetter(r[0], dict(r[1])) for r in rows)
    done = 0
    for d in todo:
        channel = d.fields.get("channel", "")
        if not channel:
            problems.append(f"{d.id}: not a valid alert ({d.fields.get('last_error', '')}); purge it instead")
            continue
        try:
            entry = Entry.from_fields(channel, {**d.fields, "attempt": "1", "last_error": "",
                                                "handoff_at": repr(time.time())})
        except Exception as exc:
            problems.append(f"{d.id}: {exc}")
            continue
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.stream(channel), cast(Any, entry.fields()))
            pipe.xdel(keys.dlq(), d.id)
            await pipe.execute()
        done += 1
    return done, problems


async def purge(redis: Redis, keys: Keys, ids: Sequence[str] | None = None) -> int:
    """Delete the given entries, or the whole dead-letter stream when `ids` is None."""
    if ids is None:
        n = int(await redis.xlen(keys.dlq()))
        await redis.delete(keys.dlq())
        return n
    return int(await redis.xdel(keys.dlq(), *ids)) if ids else 0
