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

from scoring.errors import MalformedAlertError
from streams.contracts.alert import Alert
from streams.notify.channel import Delivery


@dataclass(frozen=True, slots=True)
class Entry:
    channel: str
    alert: Alert
    route: str
    cooldown: float
    attempt: int
    handoff_at: float
    last_error: str = ""

    @property
    def alert_id(self) -> str:
        return self.alert.alert_id

    def delivery(self) -> Delivery:
        return Delivery(channel=self.channel, route=self.route, alert=self.alert, attempt=self.attempt)

    def fields(self) -> dict[str, str]:
        return {"alert_id": self.alert_id, "alert": self.alert.to_json().decode(), "route": self.route,
                "cooldown": repr(float(self.cooldown)), "attempt": str(self.attempt),
                "handoff_at": repr(float(self.handoff_at)), "last_error": self.last_error}

    def next_attempt(self, error: str) -> Entry:
        return replace(self, attempt=self.attempt + 1, last_error=error[:1000])

    @classmethod
    def from_fields(cls, channel: str, f: Mapping[str, str]) -> Entry:
        try:
            alert = Alert.parse(f["alert"])
            return cls(channel=channel, alert=alert, route=f["route"], cooldown=float(f.get("cooldown", "0")),
                       attempt=int(f.get("attempt", "1")), handoff_at=float(f["handoff_at"]),
                       last_error=f.get("last_error", ""))
        except MalformedAlertError as exc:
            raise MalformedAlertError(f"bad delivery entry on channel {channel!r}: {exc}",
                                      field=exc.field) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedAlertError(f"bad delivery entry on channel {channel!r}: {exc!r}") from None
