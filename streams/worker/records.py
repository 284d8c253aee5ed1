"""What Pulse writes to Kafka besides raw events: alerts and dead letters (JSON, orjson).

Alert (the `alerts` topic, keyed by account), as DESIGN.md's interface says::

    {"alert_id", "kind", "account", "from", "to", "direction", "score", "score_7d_ago",
     "delta_7d", "at", "reason", "route", "action", "top_events", "traits"}
    + for health alerts: "components", "weakest_component",
      "explain": {"tickets": [subjects], "time_to_aha_s", "detail"}
    + for engagement signals (sharp_drop): "explain": {"detail"}

`kind` is "engagement" or "health"; `reason` is "band_change" / "sweep" for a band change, or
the signal (scoring/signals.py: nps_detractor, nps_promoter, payment_failed,
subscription_past_due, contraction, onboarding_stalled, sharp_drop; a signal's from == to is
the score's current band). `route` / `action` are the default route name and suggested action
from the seeds (`scoring.signals.route_of`). `top_events` is [{"event", "count", "points"}]:
weight x count in the window. `score_7d_ago` / `delta_7d` / `top_events` need the model's
`[explain]` or `[health]` state (else null / null / []).

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
from scoring.signals import route_of
from scoring.timefmt import format_us

REASON_OF_CAUSE = {"event": "band_change", "sweep": "sweep", "end": "sweep"}


def alert_id(kind: str, reason: str, account: str, from_band: str | None, to_band: str, at: str) -> str:
    raw = "\x1f".join((kind, reason, account, from_band or "", to_band, at)).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def direction(from_band: str | None, to_band: str, reason: str = "band_change") -> str:
    """"up"/"down" for a band change; for a signal (same band) "down" for a sharp drop, else "none"."""
    if from_band is None:
        return "initial"
    if from_band == to_band:
        return "down" if reason == "sharp_drop" else "none"
    return "up" if BAND_NAMES.index(to_band) > BAND_NAMES.index(from_band) else "down"


def alert_from_change(change: Change, *, traits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The alert of a band change or a signal; the explanation comes from `change.explain` (the
    model's `[explain]`/`[health]` state; without it trend and top events are null/[])."""
    kind = change.kind
    reason = change.reason or REASON_OF_CAUSE[change.cause]
    at = format_us(change.at_us)
    ex = change.explain or {}
    route, action = route_of(reason, change.to_band)
    alert: dict[str, Any] = {
        "alert_id": alert_id(kind, reason, change.account, change.from_band, change.to_band, at),
        "kind": kind,
        "account": change.account,
        "from": change.from_band,
        "to": change.to_band,
        "direction": direction(change.from_band, change.to_band, reason),
        "score": change.score + 0.0,
        "score_7d_ago": ex.get("score_7d_ago"),
        "delta_7d": ex.get("delta_7d"),
        "at": at,
        "reason": reason,
        "route": route,
        "action": action,
        "top_events": ex.get("top_events") or [],
        "traits": traits or {},
    }
    if "components" in ex:
        alert["components"] = ex["components"]
        alert["weakest_component"] = ex["weakest_component"]
        alert["explain"] = {"tickets": ex.get("tickets", []), "time_to_aha_s": ex.get("time_to_aha_s"),
                            "detail": ex.get("detail", {})}
    elif "detail" in ex:
        alert["explain"] = {"detail": ex["detail"]}
    return alert


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
