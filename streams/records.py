"""What Pulse writes to Kafka besides raw events: alerts and dead letters (JSON, orjson).

Alert (the `alerts` topic, keyed by account), as DESIGN.md's interface says::

    {"alert_id", "kind", "account", "from", "to", "direction", "score", "score_7d_ago",
     "at", "reason", "top_events", "traits"}

`alert_id` is a hash of (kind, reason, account, from, to, at): the same band change always
has the same id, so a redelivered or re-emitted alert is idempotent downstream.

Dead letter (the `events-dlq` topic, keyed like the source record)::

    {"reason", "detail", "topic", "partition", "offset", "key", "raw_b64", "raw_text", "at"}
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from scoring.bands import BAND_NAMES
from scoring.engine import Change
from scoring.timefmt import format_us

REASON_OF_CAUSE = {"event": "band_change", "sweep": "sweep", "end": "sweep"}


def alert_id(kind: str, reason: str, account: str, from_band: str | None, to_band: str, at: str) -> str:
    raw = "\x1f".join((kind, reason, account, from_band or "", to_band, at)).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def direction(from_band: str | None, to_band: str) -> str:
    if from_band is None:
        return "initial"
    return "up" if BAND_NAMES.index(to_band) > BAND_NAMES.index(from_band) else "down"


def alert_from_change(change: Change, *, kind: str = "engagement", traits: dict[str, Any] | None = None,
                      score_7d_ago: float | None = None,
                      top_events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reason = REASON_OF_CAUSE[change.cause]
    at = format_us(change.at_us)
    return {
        "alert_id": alert_id(kind, reason, change.account, change.from_band, change.to_band, at),
        "kind": kind,
        "account": change.account,
        "from": change.from_band,
        "to": change.to_band,
        "direction": direction(change.from_band, change.to_band),
        "score": change.score + 0.0,
        "score_7d_ago": score_7d_ago,
        "at": at,
        "reason": reason,
        "top_events": top_events or [],
        "traits": traits or {},
    }


def dead_letter(*, reason: str, detail: str, raw: bytes, topic: str, partition: int, offset: int,
                key: bytes | None, now_iso: str) -> bytes:
    return orjson.dumps({
        "reason": reason,
        "detail": detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "raw_b64": base64.b64encode(raw).decode(),
        "raw_text": raw[:2048].decode("utf-8", "replace"),
        "at": now_iso,
    })
