"""One delivery as it sits on a channel's Redis Stream (and in the retry set / dead-letter stream).

Fields (all strings, as Redis keeps them):

    alert_id    the alert's id (also inside `alert`; kept apart for XRANGE readers)
    alert       the alert JSON as it was on the `alerts` topic
    route       the route that matched
    cooldown    the route's cooldown in seconds
    attempt     1 for the first send, 2 for the first retry, ...
    handoff_at  epoch seconds when the router put it on the stream (delivery latency starts here)
    last_error  the previous attempt's error ("" on the first)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from scoring.errors import MalformedAlertError
from streams.notify.channel import Delivery


@dataclass(frozen=True, slots=True)
class Entry:
    channel: str
    alert: dict[str, Any]
    route: str
    cooldown: float
    attempt: int
    handoff_at: float
    last_error: str = ""

    @property
    def alert_id(self) -> str:
        return str(self.alert["alert_id"])

    def delivery(self) -> Delivery:
        return Delivery(channel=self.channel, route=self.route, alert=self.alert, attempt=self.attempt)

    def fields(self) -> dict[str, str]:
        return {"alert_id": self.alert_id, "alert": orjson.dumps(self.alert).decode(), "route": self.route,
                "cooldown": repr(float(self.cooldown)), "attempt": str(self.attempt),
                "handoff_at": repr(float(self.handoff_at)), "last_error": self.last_error}

    def next_attempt(self, error: str) -> Entry:
        return replace(self, attempt=self.attempt + 1, last_error=error[:1000])

    @classmethod
    def from_fields(cls, channel: str, f: Mapping[str, str]) -> Entry:
        try:
            alert = orjson.loads(f["alert"])
            if not isinstance(alert, dict) or not isinstance(alert.get("alert_id"), str):
                raise ValueError("alert is not an object with a string alert_id")
            return cls(channel=channel, alert=alert, route=f["route"], cooldown=float(f.get("cooldown", "0")),
                       attempt=int(f.get("attempt", "1")), handoff_at=float(f["handoff_at"]),
                       last_error=f.get("last_error", ""))
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            raise MalformedAlertError(f"bad delivery entry on channel {channel!r}: {exc!r}") from None
