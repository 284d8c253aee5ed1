"""Segment events: parse and validate one Kafka record / one file line.

`parse_message(raw)` never raises: it returns a list of `Event` (valid) and
`Rejected` (invalid, with a reason code) items, one per event in the message
(a `{"batch": [...]}` envelope holds several).

Readings of DESIGN.md where its text is silent, written down here:

- every event needs a valid `timestamp` (ISO-8601 with a zone), `identify`
  and `group` included;
- a `group` call needs a string top-level `groupId` and a `userId` or
  `anonymousId`; it maps only its `userId` (resolution looks up userIds);
- `identify` needs a `userId` or an `anonymousId`; `track` needs `event`;
- `context.groupId` and `properties.accountId` must be strings when present
  (null and "" are absent); anything else makes the event invalid;
- a message over `MAX_EVENT_BYTES` (a batch envelope: `MAX_BATCH_BYTES`) is
  one invalid event; so is a batch element over `MAX_EVENT_BYTES`
  (Segment's own limits: 32 KB per call, 500 KB per batch);
- an envelope whose `context` is not an object is one invalid event; a batch
  element that is not an object is one invalid event; an empty batch is no
  event at all;
- JSON that orjson refuses but the standard library reads (integers beyond
  64 bits) is accepted; NaN/Infinity literals are not JSON and are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from scoring.timefmt import parse_iso_us

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 512 * 1024
_EMPTY: dict[str, Any] = {}  # shared "absent object"; never mutated
SCORED_TYPES = frozenset({"track", "page", "screen"})
EVENT_TYPES = SCORED_TYPES | {"identify", "group"}
_PAGE_NAMES = {"page": "Page Viewed", "screen": "Screen Viewed"}


class Event:
    """One valid Segment call.

    A plain class with `__slots__` and its own `__init__` (Event and ScoredEvent are built once
    per event: compiled by mypyc, that is several times cheaper than a NamedTuple or a dataclass,
    whose generated methods stay Python). Treat it as immutable.
    """

    __slots__ = ("anonymous_id", "context", "group_id", "message_id", "name", "properties",
                 "traits", "ts_us", "type", "user_id")

    def __init__(self, type: str, ts_us: int, name: str | None = None, user_id: str | None = None,
                 anonymous_id: str | None = None, message_id: str | None = None,
                 group_id: str | None = None, context: dict[str, Any] | None = None,
                 properties: dict[str, Any] | None = None,
                 traits: dict[str, Any] | None = None) -> None:
        self.type = type
        self.ts_us = ts_us
        self.name = name
        self.user_id = user_id
        self.anonymous_id = anonymous_id
        self.message_id = message_id
        self.group_id = group_id
        self.context: dict[str, Any] = _EMPTY if context is None else context
        self.properties: dict[str, Any] = _EMPTY if properties is None else properties
        self.traits: dict[str, Any] = _EMPTY if traits is None else traits

    @property
    def scored(self) -> bool:
        return self.type in SCORED_TYPES

    def _key(self) -> tuple[object, ...]:
        return (self.type, self.ts_us, self.name, self.user_id, self.anonymous_id, self.message_id,
                self.group_id, self.context, self.properties, self.traits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"Event{self._key()!r}"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One invalid event: a reason code, a human detail, the original message bytes."""

    reason: str
    detail: str
    raw: bytes


class ScoredEvent:
    """A scored event with its account resolved: what crosses the account-keyed topic.
    (A plain class for the reason given on `Event`; treat it as immutable.)"""

    __slots__ = ("account", "message_id", "name", "properties", "ts_us")

    def __init__(self, account: str, name: str, ts_us: int, message_id: str | None = None,
                 properties: dict[str, Any] | None = None) -> None:
        self.account = account
        self.name = name
        self.ts_us = ts_us
        self.message_id = message_id
        self.properties: dict[str, Any] = _EMPTY if properties is None else properties

    def _key(self) -> tuple[object, ...]:
        return (self.account, self.name, self.ts_us, self.message_id, self.properties)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScoredEvent) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"ScoredEvent{self._key()!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.account, "n": self.name, "t": self.ts_us, "m": self.message_id,
                "p": self.properties or None}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> ScoredEvent:
        d = orjson.loads(data)
        return cls(d["a"], d["n"], d["t"], d["m"], d["p"] or {})


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses but is valid JSON: integers beyond 64 bits
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError, TypeError) as exc:
        raise _Invalid("not_json", str(exc)[:200]) from None


def _absent(v: Any) -> bool:
    return v is None or v == ""


def _opt_str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if type(v) is str:
        return v or None
    if v is None:
        return None
    raise _Invalid("bad_type", f"{key} must be a string, got {type(v).__name__}")


def _opt_obj(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if type(v) is dict:
        return v
    if v is None or v == "":
        return _EMPTY
    raise _Invalid("bad_type", f"{key} must be an object, got {type(v).__name__}")


def _build(d: dict[str, Any], now_us: int | None, skew_us: int) -> Event:
    g = d.get
    typ = g("type")
    if type(typ) is not str or typ not in EVENT_TYPES:
        if _absent(typ):
            raise _Invalid("missing_type", "type is required")
        if type(typ) is not str:
            raise _Invalid("bad_type", f"type must be a string, got {type(typ).__name__}")
        raise _Invalid("unknown_type", f"unknown type {typ[:40]!r}")
    # the common case (a non-empty string / an object) is tested inline: this runs per event
    user_id = g("userId")
    if type(user_id) is not str or not user_id:
        user_id = _opt_str(d, "userId")
    anonymous_id = g("anonymousId")
    if type(anonymous_id) is not str or not anonymous_id:
        anonymous_id = _opt_str(d, "anonymousId")
    message_id = g("messageId")
    if type(message_id) is not str or not message_id:
        message_id = _opt_str(d, "messageId")
    name = g("event")
    if type(name) is not str or not name:
        name = _opt_str(d, "event")
    context = g("context")
    if type(context) is not dict:
        context = _opt_obj(d, "context")
    properties = g("properties")
    if type(properties) is not dict:
        properties = _opt_obj(d, "properties")
    traits = g("traits")
    if type(traits) is not dict:
        traits = _opt_obj(d, "traits")
    if context:
        _opt_str(context, "groupId")
    if properties:
        _opt_str(properties, "accountId")
    ts = g("timestamp")
    ts_us = parse_iso_us(ts) if type(ts) is str else None
    if ts_us is None:
        if _absent(ts):
            raise _Invalid("missing_timestamp", "timestamp is required")
        raise _Invalid("bad_timestamp", f"timestamp must be ISO-8601 with a zone: {str(ts)[:60]!r}")
    if now_us is not None and ts_us > now_us + skew_us:
        raise _Invalid("future_timestamp", f"timestamp {ts} is ahead of the wall clock")
    group_id = None
    if typ == "track":
        if name is None:
            raise _Invalid("missing_event", "track needs an event name")
    elif typ in _PAGE_NAMES:
        name = _PAGE_NAMES[typ]
    else:
        if user_id is None and anonymous_id is None:
            raise _Invalid("missing_id", f"{typ} needs a userId or anonymousId")
        if typ == "group":
            group_id = _opt_str(d, "groupId")
            if group_id is None:
                raise _Invalid("missing_group_id", "group needs a groupId")
    return Event(typ, ts_us, name, user_id, anonymous_id, message_id, group_id,
                 context, properties, traits)


def _one(d: Any, raw: bytes, now_us: int | None, skew_us: int) -> Event | Rejected:
    if type(d) is not dict:
        return Rejected("not_object", f"an event must be a JSON object, got {type(d).__name__}", raw)
    try:
        return _build(d, now_us, skew_us)
    except _Invalid as exc:
        return Rejected(exc.reason, exc.detail, raw)


def _batch(doc: dict[str, Any], raw: bytes, now_us: int | None, skew_us: int
           ) -> list[Event | Rejected]:
    batch = doc["batch"]
    if type(batch) is not list:
        return [Rejected("bad_batch", "batch must be a list", raw)]
    env_ctx = doc.get("context")
    if _absent(env_ctx):
        env_ctx = None
    elif type(env_ctx) is not dict:
        return [Rejected("bad_type", "envelope context must be an object", raw)]
    check_size = len(raw) > MAX_EVENT_BYTES
    out: list[Event | Rejected] = []
    for i, el in enumerate(batch):
        if type(el) is dict:
            if check_size and len(orjson.dumps(el)) > MAX_EVENT_BYTES:
                out.append(Rejected("oversize", f"batch[{i}] is over {MAX_EVENT_BYTES} bytes", raw))
                continue
            if env_ctx:
                own = el.get("context")
                if _absent(own):
                    el = {**el, "context": env_ctx}
                elif type(own) is dict:
                    el = {**el, "context": {**env_ctx, **own}}
        out.append(_one(el, raw, now_us, skew_us))
    return out


def parse_message(raw: bytes, *, now_us: int | None = None,
                  max_future_skew_us: int = 300_000_000) -> list[Event | Rejected]:
    """Parse one message into events. Never raises.

    `now_us` is the wall clock for the future-skew check; None disables it
    (`pulse replay`: history has no wall clock).
    """
    if len(raw) > MAX_BATCH_BYTES:
        return [Rejected("oversize", f"message is over {MAX_BATCH_BYTES} bytes", raw)]
    try:
        doc = _loads(raw)
    except _Invalid as exc:
        return [Rejected(exc.reason, exc.detail, raw)]
    if type(doc) is dict and "batch" in doc:
        return _batch(doc, raw, now_us, max_future_skew_us)
    if len(raw) > MAX_EVENT_BYTES:
        return [Rejected("oversize", f"event is over {MAX_EVENT_BYTES} bytes", raw)]
    return [_one(doc, raw, now_us, max_future_skew_us)]


def resolve_account(ev: Event, user_accounts: Any) -> str | None:
    """The account of a scored event, in DESIGN.md's order, or None.

    `context.groupId`, else `properties.accountId`, else the latest `group`
    mapping of the `userId` (`user_accounts.get(user_id)`), else the `userId`,
    else the `anonymousId`.
    """
    account = ev.context.get("groupId") or ev.properties.get("accountId")
    if account:
        return str(account)
    if ev.user_id is not None:
        mapped = user_accounts.get(ev.user_id)
        return str(mapped) if mapped else ev.user_id
    return ev.anonymous_id
