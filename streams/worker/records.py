"""What Pulse writes to Kafka besides raw events: alerts and dead letters (JSON, orjson).

Alert (the `alerts` topic, keyed by account): a `streams.contracts.alert.Alert`, built here from
a band change or a signal (`alert_from_change`); its fields and JSON are documented there.
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

from scoring.bands import Band
from scoring.change import Kind
from scoring.engine import Change
from scoring.signals import Reason, route_of
from scoring.timefmt import format_us
from streams.contracts.alert import Alert, Direction, Explain, TopEvent

REASON_OF_CAUSE = {"event": Reason.BAND_CHANGE, "sweep": Reason.SWEEP, "end": Reason.SWEEP}
# name -> member by a plain dict lookup (calling the enum, Band("red"), is several times slower)
_KIND: dict[str, Kind] = {k.value: k for k in Kind}
_REASON: dict[str, Reason] = {r.value: r for r in Reason}
_BAND: dict[str, Band] = {b.value: b for b in Band}


def alert_id(kind: str, reason: str, account: str, from_band: str | None, to_band: str, at: str) -> str:
    raw = "\x1f".join((kind, reason, account, from_band or "", to_band, at)).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def alert_from_change(change: Change, *, traits: dict[str, Any] | None = None) -> Alert:
    """The alert of a band change or a signal; the explanation comes from `change.explain` (the
    model's `[explain]`/`[health]` state; without it trend and top events are null/[])."""
    kind = _KIND[change.kind]
    reason = REASON_OF_CAUSE[change.cause] if change.reason is None else _REASON[change.reason]
    at = format_us(change.at_us)
    frm = None if change.from_band is None else _BAND[change.from_band]
    to = _BAND[change.to_band]
    ex = change.explain or {}
    route, action = route_of(reason, to)
    comps = ex.get("components")
    if "components" in ex:
        explain: Explain | None = Explain(ex.get("detail", {}), tuple(ex.get("tickets", ())),
                                          ex.get("time_to_aha_s"))
    else:
        explain = Explain(ex["detail"]) if "detail" in ex else None
    return Alert(
        alert_id=alert_id(kind, reason, change.account, change.from_band, change.to_band, at),
        kind=kind,
        account=change.account,
        from_band=frm,
        to_band=to,
        direction=Direction.of(frm, to, reason),
        score=change.score + 0.0,
        at=at,
        reason=reason,
        score_7d_ago=ex.get("score_7d_ago"),
        delta_7d=ex.get("delta_7d"),
        route=route,
        action=action,
        top_events=tuple(TopEvent(e["event"], e["count"], e["points"]) for e in ex.get("top_events") or ()),
        traits=traits or {},
        components=comps,
        weakest_component=ex.get("weakest_component"),
        explain=explain,
    )


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
