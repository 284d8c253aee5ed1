"""The account snapshot: what the dashboard knows about one account, as its API serves it.

One typed contract for the boundary between the read model (`streams/dashboard/`) and anything
that reads `/api/accounts/<id>` (the dashboard's own pages, other tools). Built by
`streams.dashboard.derive` from the worker's account-state changelog with the pure core, so the
numbers are the ones `pulse scores export` prints.

JSON form (`to_json()` / `AccountSnapshot.parse()`), every key always present::

    {"account", "as_of", "last_event_at",
     "engagement": {"score", "band", "score_7d_ago", "delta_7d"},
     "health": null | {"score", "band", "components": {name: value|null},
                       "weakest_component", "score_7d_ago", "delta_7d", "tickets": [subject]},
     "top_events": [{"event", "count", "points"}], "traits": {...}}

`as_of` is the clock the scores are read at (the account's partition clock when its state last
changed; ISO-8601 UTC), `last_event_at` the time of its latest accepted event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from scoring.bands import BAND_NAMES


class SnapshotError(ValueError):
    """A snapshot document that does not follow the contract (names the key)."""


def _num(d: dict[str, Any], key: str, *, optional: bool = True) -> float | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SnapshotError(f"{key!r} must be a number, got {v!r}")
    return float(v)


def _band(d: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if v not in BAND_NAMES:
        raise SnapshotError(f"{key!r} must be one of {', '.join(BAND_NAMES)}, got {v!r}")
    return str(v)


@dataclass(frozen=True, slots=True)
class Engagement:
    score: float
    band: str
    score_7d_ago: float | None = None
    delta_7d: float | None = None


@dataclass(frozen=True, slots=True)
class Health:
    score: float | None
    band: str | None
    components: dict[str, float | None] = field(default_factory=dict)
    weakest_component: str | None = None
    score_7d_ago: float | None = None
    delta_7d: float | None = None
    tickets: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account: str
    as_of: str
    last_event_at: str
    engagement: Engagement
    health: Health | None = None
    top_events: tuple[dict[str, Any], ...] = ()
    traits: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        e, h = self.engagement, self.health
        return {
            "account": self.account, "as_of": self.as_of, "last_event_at": self.last_event_at,
            "engagement": {"score": e.score, "band": e.band, "score_7d_ago": e.score_7d_ago,
                           "delta_7d": e.delta_7d},
            "health": None if h is None else {
                "score": h.score, "band": h.band, "components": dict(h.components),
                "weakest_component": h.weakest_component, "score_7d_ago": h.score_7d_ago,
                "delta_7d": h.delta_7d, "tickets": list(h.tickets)},
            "top_events": [dict(t) for t in self.top_events],
            "traits": dict(self.traits),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def parse(cls, raw: bytes | str | dict[str, Any]) -> AccountSnapshot:
        """Parse and check a snapshot document; raises `SnapshotError` naming the bad key."""
        try:
            d = raw if isinstance(raw, dict) else orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SnapshotError(f"not JSON: {exc}") from None
        if not isinstance(d, dict):
            raise SnapshotError("a snapshot is a JSON object")
        for key in ("account", "as_of", "last_event_at"):
            if not isinstance(d.get(key), str):
                raise SnapshotError(f"{key!r} must be a string")
        e = d.get("engagement")
        if not isinstance(e, dict):
            raise SnapshotError("'engagement' must be an object")
        score = _num(e, "score", optional=False)
        assert score is not None
        eng = Engagement(score, str(_band(e, "band")), _num(e, "score_7d_ago"), _num(e, "delta_7d"))
        h = d.get("health")
        health = None
        if h is not None:
            if not isinstance(h, dict) or not isinstance(h.get("components", {}), dict):
                raise SnapshotError("'health' must be an object with 'components' an object")
            comps = {str(k): _num(h["components"], k) for k in h.get("components", {})}
            weakest = h.get("weakest_component")
            tickets = h.get("tickets") or []
            if not isinstance(tickets, list):
                raise SnapshotError("'health.tickets' must be a list")
            health = Health(_num(h, "score"), _band(h, "band", optional=True), comps,
                            weakest if isinstance(weakest, str) else None,
                            _num(h, "score_7d_ago"), _num(h, "delta_7d"),
                            tuple(t if isinstance(t, str) else None for t in tickets))
        top = d.get("top_events", [])
        traits = d.get("traits", {})
        if not isinstance(top, list) or not all(isinstance(t, dict) for t in top):
            raise SnapshotError("'top_events' must be a list of objects")
        if not isinstance(traits, dict):
            raise SnapshotError("'traits' must be an object")
        return cls(d["account"], d["as_of"], d["last_event_at"], eng, health, tuple(top), traits)
