"""Cooldown stage: at most one alert per (account, route) per `cooldown` seconds, unless it is worse.

The record of (account, route) (`keys.cooldown`, JSON, expiring with the cooldown) names the
alert that opened the cooldown, the band it went to and until when it holds. `decide` is pure:

- no record, or the record has run out (`now >= until`): send, open a new cooldown;
- the same alert (another channel of the route, or a retry of it): send, keep the record;
- the alert's band is worse than the record's (`Band.rank`: at_risk < red < ...): send and
  open a new cooldown from this band (an account sliding red -> at_risk is never held back);
- otherwise: suppress.

A cooldown of 0 keeps no record and never suppresses. The cooldown opens when the first channel
of the route lets the alert through, whatever the send's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from streams.contracts.alert import Band
from streams.notify.keys import Keys


@dataclass(frozen=True, slots=True)
class Record:
    alert_id: str
    band: Band
    until: float

    def dumps(self) -> str:
        d = {"alert_id": self.alert_id, "band": self.band.value, "until": self.until}
        return orjson.dumps(d).decode()

    @classmethod
    def loads(cls, raw: str | None) -> Record | None:
        if raw is None:
            return None
        try:
            d = orjson.loads(raw)
            return cls(str(d["alert_id"]), Band(d["band"]), float(d["until"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # a damaged record opens no cooldown


@dataclass(frozen=True, slots=True)
class Decision:
    send: bool
    why: str                    # "no cooldown", "new", "expired", "same alert", "worse band", "cooldown"
    record: Record | None       # the record to store (None: leave as is)


def decide(record: Record | None, *, alert_id: str, band: Band, now: float, cooldown: float) -> Decision:
    if cooldown <= 0:
        return Decision(True, "no cooldown", None)
    fresh = Record(alert_id, band, now + cooldown)
    if record is None:
        return Decision(True, "new", fresh)
    if now >= record.until:
        return Decision(True, "expired", fresh)
    if record.alert_id == alert_id:
        return Decision(True, "same alert", None)
    if band.rank < record.band.rank:
        return Decision(True, "worse band", fresh)
    return Decision(False, "cooldown", None)


async def apply(redis: Redis, keys: Keys, *, route: str, account: str, alert_id: str, band: Band,
                now: float, cooldown: float) -> Decision:
    """Decide against the stored record and store the new one atomically (WATCH/MULTI)."""
    if cooldown <= 0:
        return decide(None, alert_id=alert_id, band=band, now=now, cooldown=cooldown)
    key = keys.cooldown(route, account)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                raw: Any = await pipe.get(key)
                d = decide(Record.loads(raw), alert_id=alert_id, band=band, now=now,
                           cooldown=cooldown)
                pipe.multi()  # type: ignore[no-untyped-call]
                if d.record is not None:
                    pipe.set(key, d.record.dumps(), px=max(1, int(cooldown * 1000)))
                await pipe.execute()
                return d
            except WatchError:
                continue
