"""The alert: one record on the `alerts` topic (keyed by account), written by the worker and read
by the notifier, `pulse alerts tail` and the dashboard.

On the wire it is one JSON object (orjson, UTF-8, keys in this order)::

    {"alert_id", "kind", "account", "from", "to", "direction", "score", "score_7d_ago",
     "delta_7d", "at", "reason", "route", "action", "top_events", "traits"}
    + a health alert:         "components", "weakest_component",
                              "explain": {"tickets", "time_to_aha_s", "detail"}
    + fields this version does not know, kept as they came (`extra`)

(An `explain` of only {"detail"}, without components, is accepted and written back as it came;
the worker builds one for an engagement change whose explanation has a detail, which no
engagement change has today.)

- `kind` (`Kind`): engagement or health. `from` / `to` (`Band`): the band before (null for an
  account's first band) and after; a signal keeps the band (`from` == `to`).
- `direction` (`Direction`): up / down for a band change, initial for a first band, none for a
  signal, down for a sharp drop.
- `reason` (`Reason`): band_change, sweep, or the signal.
- `score`, `score_7d_ago`, `delta_7d`: the score now, `trend_days` ago and the difference (null
  without the model's `[explain]` / `[health]` state). `at`: the change's time, ISO 8601 UTC.
- `route` / `action`: the default route name and suggested action (`scoring.signals.route_of`).
- `top_events`: [{"event", "count", "points"}], points = weight x count in the window.
- `traits`: the account's traits from its group calls, as sent.
- `components`: health component -> 0..100 or null (no data); `weakest_component`: its name.
- `explain.tickets`: subjects of the support tickets in the window (null: a ticket without a
  subject); `explain.time_to_aha_s`: seconds to the first milestone; `explain.detail`: the
  signal's detail ({"nps": 3.0}, {"event", "mrr_delta"}, {"stall_days"}), {} for a band change.

`Alert.parse` accepts what `to_json` writes and raises `scoring.errors.MalformedAlertError` naming
the field otherwise; `Alert.parse(line).to_json() == line` for every line the worker writes
(tests/unit/test_alert_contract.py checks recorded ones byte for byte). Numbers typed `float`
accept JSON integers and are kept as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from scoring.bands import BAND_NAMES, Band
from scoring.change import Kind
from scoring.errors import MalformedAlertError
from scoring.signals import Reason

__all__ = ["Alert", "Band", "Direction", "Explain", "Kind", "MalformedAlertError", "Reason", "TopEvent"]

_RANK: dict[str, int] = {b: i for i, b in enumerate(BAND_NAMES)}  # str keys: a Band finds its rank too


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    INITIAL = "initial"   # the account's first band (from is null)
    NONE = "none"         # a signal: the band did not move

    @classmethod
    def of(cls, from_band: Band | None, to_band: Band, reason: Reason) -> Direction:
        """up / down for a band change; for a signal (same band) down for a sharp drop, else none."""
        if from_band is None:
            return cls.INITIAL
        if from_band is to_band:
            return cls.DOWN if reason is Reason.SHARP_DROP else cls.NONE
        return cls.UP if _RANK[to_band] > _RANK[from_band] else cls.DOWN


@dataclass(frozen=True, slots=True)
class TopEvent:
    event: str
    count: int
    points: float   # weight x count in the window


@dataclass(frozen=True, slots=True)
class Explain:
    """The `explain` object. A health alert's has `tickets` (a tuple, maybe empty) and
    `time_to_aha_s`; an engagement signal's has only `detail` (`tickets` None)."""

    detail: dict[str, Any] = field(default_factory=dict)
    tickets: tuple[str | None, ...] | None = None
    time_to_aha_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.tickets is None:
            return {"detail": self.detail}
        return {"tickets": list(self.tickets), "time_to_aha_s": self.time_to_aha_s, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: Kind
    account: str
    from_band: Band | None
    to_band: Band
    direction: Direction
    score: float
    at: str
    reason: Reason
    score_7d_ago: float | None = None
    delta_7d: float | None = None
    route: str | None = None
    action: str | None = None
    top_events: tuple[TopEvent, ...] = ()
    traits: dict[str, Any] = field(default_factory=dict)
    components: dict[str, float | None] | None = None    # health alerts
    weakest_component: str | None = None                  # health alerts
    explain: Explain | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # unknown fields, forwarded as they came

    @property
    def is_signal(self) -> bool:
        return self.reason.is_signal

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (plain str / float / list / dict values), keys in wire order."""
        # `_value_` is the enum member's value as a plain attribute (`.value` is a property,
        # several times slower; orjson's own enum path is slower still)
        frm = self.from_band
        d: dict[str, Any] = {
            "alert_id": self.alert_id,
            "kind": self.kind._value_,
            "account": self.account,
            "from": None if frm is None else frm._value_,
            "to": self.to_band._value_,
            "direction": self.direction._value_,
            "score": self.score,
            "score_7d_ago": self.score_7d_ago,
            "delta_7d": self.delta_7d,
            "at": self.at,
            "reason": self.reason._value_,
            "route": self.route,
            "action": self.action,
            "top_events": [{"event": e.event, "count": e.count, "points": e.points} for e in self.top_events],
            "traits": self.traits,
        }
        if self.components is not None:
            d["components"] = self.components
            d["weakest_component"] = self.weakest_component
        elif self.weakest_component is not None:
            d["weakest_component"] = self.weakest_component
        if self.explain is not None:
            d["explain"] = self.explain.to_dict()
        if self.extra:
            for k, v in self.extra.items():
                d.setdefault(k, v)
        return d

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def parse(cls, raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Alert:
        """Decode and check one alert; raise `MalformedAlertError` naming the first bad field."""
        if isinstance(raw, Mapping):
            obj: Any = raw
        else:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise MalformedAlertError(f"not JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise MalformedAlertError(f"not a JSON object but {type(obj).__name__}")
        g = obj.get
        from_raw = g("from")
        ex = g("explain")
        comps = g("components")
        return cls(
            alert_id=_text(g("alert_id"), "alert_id"),
            kind=_enum(Kind, g("kind"), "kind"),
            account=_text(g("account"), "account"),
            from_band=None if from_raw is None else _enum(Band, from_raw, "from", " or null"),
            to_band=_enum(Band, g("to"), "to"),
            direction=_enum(Direction, g("direction"), "direction"),
            score=_number(g("score"), "score"),
            at=_text(g("at"), "at"),
            reason=_enum(Reason, g("reason"), "reason"),
            score_7d_ago=_opt_number(g("score_7d_ago"), "score_7d_ago"),
            delta_7d=_opt_number(g("delta_7d"), "delta_7d"),
            route=_opt_str(g("route"), "route"),
            action=_opt_str(g("action"), "action"),
            top_events=_top_events(g("top_events")),
            traits=_object(g("traits"), "traits"),
            components=None if comps is None else _components(comps),
            weakest_component=_opt_str(g("weakest_component"), "weakest_component"),
            explain=None if ex is None else _explain(ex),
            extra={} if _FIELDS.issuperset(obj) else {k: v for k, v in obj.items() if k not in _FIELDS},
        )


_FIELDS = frozenset({"alert_id", "kind", "account", "from", "to", "direction", "score", "score_7d_ago",
                     "delta_7d", "at", "reason", "route", "action", "top_events", "traits", "components",
                     "weakest_component", "explain"})
_EXPLAIN_FIELDS = frozenset({"tickets", "time_to_aha_s", "detail"})
E = TypeVar("E", bound=StrEnum)


def _bad(name: str, why: str) -> MalformedAlertError:
    return MalformedAlertError(f"field {name!r} {why}", field=name)


def _text(v: Any, name: str) -> str:
    if not isinstance(v, str) or not v:
        raise _bad(name, "missing or not a non-empty string")
    return v


def _opt_str(v: Any, name: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise _bad(name, f"is {type(v).__name__}, not a string or null")
    return v


def _enum(cls: type[E], v: Any, name: str, tail: str = "") -> E:
    if not isinstance(v, str):
        raise _bad(name, f"missing or not a string (one of {', '.join(cls)}{tail})")
    try:
        return cls(v)
    except ValueError:
        raise _bad(name, f"is {v!r}, not one of {', '.join(cls)}{tail}") from None


def _number(v: Any, name: str) -> float:
    if type(v) is float:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, float):
        return float(v)
    raise _bad(name, "missing or not a number" if v is None else f"is {type(v).__name__}, not a number")


def _opt_number(v: Any, name: str) -> float | None:
    return None if v is None else _number(v, name)


def _object(v: Any, name: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _bad(name, "is not an object")
    return v


def _top_events(v: Any) -> tuple[TopEvent, ...]:
    if v is None:
        return ()
    if not isinstance(v, list | tuple):
        raise _bad("top_events", "is not a list")
    out = []
    for i, item in enumerate(v):
        where = f"top_events[{i}]"
        if not isinstance(item, dict):
            raise _bad(where, "is not an object")
        event, count = item.get("event"), item.get("count")
        if not isinstance(event, str):
            raise _bad(f"{where}.event", "missing or not a string")
        if not isinstance(count, int) or isinstance(count, bool):
            raise _bad(f"{where}.count", "missing or not an integer")
        out.append(TopEvent(event, count, _number(item.get("points"), f"{where}.points")))
    return tuple(out)


def _components(v: Any) -> dict[str, float | None]:
    if not isinstance(v, dict):
        raise _bad("components", "is not an object")
    out: dict[str, float | None] = {}
    for k, x in v.items():
        out[k] = _opt_number(x, f"components.{k}")
    return out


def _explain(v: Any) -> Explain:
    if not isinstance(v, dict):
        raise _bad("explain", "is not an object")
    unknown = sorted(set(v) - _EXPLAIN_FIELDS)
    if unknown:
        known = ", ".join(sorted(_EXPLAIN_FIELDS))
        raise _bad(f"explain.{unknown[0]}", f"is not a known field (known: {known})")
    detail = _object(v.get("detail"), "explain.detail")
    if "tickets" not in v and "time_to_aha_s" not in v:
        return Explain(detail)
    raw = v.get("tickets")
    if raw is None:
        tickets: tuple[str | None, ...] = ()
    elif isinstance(raw, list | tuple):
        for i, t in enumerate(raw):
            if t is not None and not isinstance(t, str):
                raise _bad(f"explain.tickets[{i}]", "is not a string or null")
        tickets = tuple(raw)
    else:
        raise _bad("explain.tickets", "is not a list")
    return Explain(detail, tickets, _opt_number(v.get("time_to_aha_s"), "explain.time_to_aha_s"))
