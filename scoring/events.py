"""Segment events: parse and validate one Kafka record / one file line.

`parse_message(raw, now_us=..., max_future_skew_us=...)` never raises: it returns a list of
`Event` (valid) and `Rejected` (invalid, with a reason code and the record's bytes) items, one per
event in the record (a `{"batch": [...]}` envelope holds several, an empty batch none).

The rules (the project's Events spec, docs/semantics.md):

- ids: `userId`, `anonymousId`, `groupId`, `context.groupId`, `properties.accountId`,
  `messageId` are strings or integers (a JSON number without fraction or exponent, not a
  boolean); an integer counts as its decimal string. `event` is a string. `context`,
  `properties`, `traits` are objects; `[]` counts as absent. `null` and `""` count as absent.
  These types are checked on every call, scored or not.
- calls: `track`, `page`, `screen` are scored (page/screen as `Page Viewed` / `Screen Viewed`);
  `identify`, `group`, `alias`, `delete` are valid and not scored; a `track` needs `event`, a
  `group` needs `groupId` and a sender (`userId`, else `anonymousId`).
- event time: `timestamp`; else `receivedAt - (sentAt - originalTimestamp)` when all three are
  present; else `originalTimestamp`; else `receivedAt`. Only the fields used are read. Forms:
  scoring/timefmt.py. More than `max_future_skew_us` past `now_us` is invalid (every call).
- sizes: a record over `MAX_RECORD_BYTES` is one invalid event; an event (alone or a batch
  element, before any merge) whose compact JSON serialization (raw UTF-8) is over
  `MAX_EVENT_BYTES` is invalid. Its `receivedAt` member is not counted (`event_size`): that is the
  server's stamp (pulse ingest adds or replaces it), so the limit is on what the client wrote and
  ingest and worker agree on it.
- envelope: an object with a `batch` key. `batch` not a list: one invalid event. Each element
  that is not an object, or is itself an envelope, is one invalid event. The envelope's
  `context` (when an object) is merged under each element's own (the element's keys win); the
  envelope's `sentAt` / `receivedAt` apply, field by field, to elements that have none.

Reason codes (`Rejected.reason`; `REASONS` lists them): see `REASONS` below. JSON is what orjson
reads (`_loads`): NaN/Infinity, numbers beyond a double, lone surrogates and bytes that are not
UTF-8 are `not_json`; nesting deeper than `MAX_DEPTH` is `too_deep`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from scoring.calls import EMPTY, SCORED_TYPES, Event, Rejected
from scoring.timefmt import parse_iso_us

MAX_EVENT_BYTES = 32_768  # 32 KiB: one event, as compact JSON
MAX_DEPTH = 253  # nesting levels: what orjson writes back (254) with the one level Pulse adds
MAX_RECORD_BYTES = 500_000  # 500 KB: one Kafka record / one replay line (Segment's batch limit)
# A JSON text of at most this many bytes cannot serialize compactly to more than MAX_EVENT_BYTES:
# re-serializing only grows numbers (`1e15` -> `1000000000000000.0`, at most 4.5x), so shorter
# texts skip the measurement.
_SAFE_RAW = MAX_EVENT_BYTES * 2 // 9
EVENT_TYPES = SCORED_TYPES | {"identify", "group", "alias", "delete"}
_PAGE_NAMES = {"page": "Page Viewed", "screen": "Screen Viewed"}

# Every reason a `Rejected` can carry, with what it means (also in docs/semantics.md).
REASONS: dict[str, str] = {
    "oversize": "a record over 500,000 bytes, or an event whose compact JSON is over 32,768 bytes",
    "not_json": "the record is not JSON (or JSON no writer can write back: lone surrogates, numbers "
                "beyond a double, encodings other than UTF-8)",
    "too_deep": f"nested deeper than {MAX_DEPTH} levels",
    "not_object": "the record, or a batch element, is not a JSON object",
    "bad_batch": "an envelope whose `batch` is not a list",
    "nested_batch": "a batch element that is itself an envelope (has a `batch` key)",
    "missing_type": "no `type`",
    "bad_type": "a field of the wrong type (`type` not a string, an id not a string or integer, "
                "`event` not a string, `context`/`properties`/`traits` not an object)",
    "unknown_type": "a `type` other than track, page, screen, identify, group, alias, delete",
    "missing_timestamp": "none of timestamp, originalTimestamp, receivedAt",
    "bad_timestamp": "a time field used for the event time that is not an accepted ISO-8601 form",
    "future_timestamp": "event time more than max_future_skew ahead of the wall clock",
    "missing_event": "a track without `event`",
    "missing_group_id": "a group call without `groupId`",
    "missing_id": "a group call without a sender (`userId` or `anonymousId`)",
    "no_account": "a scored event whose account resolves from none of its sources",
}


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


class _FloatId(Exception):
    """An id that orjson read as a float: perhaps an integer beyond 64 bits (orjson reads those as
    floats), so the record is read again with the standard library, which keeps them exact.
    (Not a subclass of `_Invalid`: mypyc mistypes an `except` variable shared by a class and its
    subclass.)"""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(raw: bytes) -> Any:
    """The record's JSON value, as orjson reads it, or `not_json` / `too_deep`.

    What orjson refuses is not read again by the standard library, which sniffs UTF-16/32 from
    the bytes, decodes surrogates encoded in UTF-8 and escaped lone surrogates, and turns 1e400
    into infinity: values no JSON writer can write back, so an event holding one would crash the
    worker when it forwards the event. (Integers of 309+ digits are refused with them; shorter
    integers beyond 64 bits orjson reads, as floats: an id among them is read again exactly, see
    `parse_message`.)
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Invalid("not_json", str(exc)[:200]) from None
    # orjson reads 1024 levels but writes 254, and what Pulse forwards wraps an event's fields in
    # one more level: a record deeper than MAX_DEPTH could be read but not forwarded. Only a
    # record with that many brackets can be that deep; then orjson (C speed) measures it.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        try:
            orjson.dumps([doc])
        except orjson.JSONEncodeError:
            raise _Invalid("too_deep", f"nested deeper than {MAX_DEPTH} levels") from None
    return doc


_STAMP_BYTES = len(b',"receivedAt":')


def event_size(doc: dict[str, Any]) -> int:
    """The bytes `MAX_EVENT_BYTES` limits: `doc`'s compact JSON without its `receivedAt` member."""
    size = compact_size(doc)
    if "receivedAt" in doc:
        size -= _STAMP_BYTES + compact_size(doc["receivedAt"])
    return size


def compact_size(doc: Any) -> int:
    """Bytes of `doc`'s compact JSON serialization, raw UTF-8 (no `\\u` escapes)."""
    try:
        return len(orjson.dumps(doc))
    except TypeError:  # orjson.JSONEncodeError: integers beyond 64 bits, lone surrogates, depth
        pass
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return 0
    return len(text.encode("utf-8", "surrogatepass"))


def _absent(v: Any) -> bool:
    return v is None or v == ""


def _id(d: dict[str, Any], key: str) -> str | None:
    """A string-or-integer id field: its string, None when absent; else invalid."""
    v = d.get(key)
    if type(v) is str:
        return v or None
    if type(v) is int:
        return str(v)
    if v is None:
        return None
    if type(v) is float:
        raise _FloatId("bad_type", f"{key} must be a string or an integer, got a number with a "
                       "fraction or exponent")
    raise _Invalid("bad_type", f"{key} must be a string or an integer, got {type(v).__name__}")


def _str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if type(v) is str:
        return v or None
    if v is None:
        return None
    raise _Invalid("bad_type", f"{key} must be a string, got {type(v).__name__}")


def _obj(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if type(v) is dict:
        return v
    if v is None or v == "" or v == []:
        return EMPTY
    raise _Invalid("bad_type", f"{key} must be an object, got {type(v).__name__}")


def _time(v: Any, key: str) -> int:
    """A present time field's microseconds; invalid unless an accepted ISO-8601 string."""
    if type(v) is str:
        us = parse_iso_us(v)
        if us is not None:
            return us
        raise _Invalid("bad_timestamp", f"{key} is not an ISO-8601 time: {v[:60]!r}")
    raise _Invalid("bad_timestamp", f"{key} must be an ISO-8601 string, got {type(v).__name__}")


_MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def _event_time(d: dict[str, Any], env_sent: Any, env_received: Any) -> int:
    ts = d.get("timestamp")
    if not _absent(ts):
        return _time(ts, "timestamp")
    orig = d.get("originalTimestamp")
    received = d.get("receivedAt")
    if _absent(received):
        received = env_received
    if not _absent(orig):
        sent = d.get("sentAt")
        if _absent(sent):
            sent = env_sent
        if _absent(sent) or _absent(received):
            return _time(orig, "originalTimestamp")
        us = (_time(received, "receivedAt")
              - (_time(sent, "sentAt") - _time(orig, "originalTimestamp")))
        if not _MIN_US <= us <= _MAX_US:  # a time no ISO-8601 writer (nor Pulse's output) can write
            raise _Invalid("bad_timestamp", "receivedAt - (sentAt - originalTimestamp) is outside "
                           "the years 0001..9999")
        return us
    if not _absent(received):
        return _time(received, "receivedAt")
    raise _Invalid("missing_timestamp", "no timestamp, originalTimestamp or receivedAt")


def _build(d: dict[str, Any], now_us: int | None, skew_us: int, env_ctx: dict[str, Any] | None,
           env_sent: Any, env_received: Any) -> Event:
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
        user_id = _id(d, "userId")
    anonymous_id = g("anonymousId")
    if type(anonymous_id) is not str or not anonymous_id:
        anonymous_id = _id(d, "anonymousId")
    message_id = g("messageId")
    if type(message_id) is not str or not message_id:
        message_id = _id(d, "messageId")
    group_id = g("groupId")
    if type(group_id) is not str or not group_id:
        group_id = _id(d, "groupId")
    name = g("event")
    if type(name) is not str or not name:
        name = _str(d, "event")
    context = g("context")
    if type(context) is not dict:
        context = _obj(d, "context")
    properties = g("properties")
    if type(properties) is not dict:
        properties = _obj(d, "properties")
    traits = g("traits")
    if type(traits) is not dict:
        traits = _obj(d, "traits")
    if env_ctx is not None:
        context = {**env_ctx, **context} if context else env_ctx
    hint: str | None = None
    if context:
        hint = _id(context, "groupId")
    if properties:
        account_id = _id(properties, "accountId")
        if hint is None:
            hint = account_id
    ts = g("timestamp")
    ts_us = parse_iso_us(ts) if type(ts) is str else None
    if ts_us is None:
        ts_us = _event_time(d, env_sent, env_received)
    if now_us is not None and ts_us > now_us + skew_us:
        raise _Invalid("future_timestamp", "event time is more than max_future_skew ahead of "
                       "the wall clock")
    if typ == "track":
        if name is None:
            raise _Invalid("missing_event", "track needs an event name")
    elif typ in _PAGE_NAMES:
        name = _PAGE_NAMES[typ]
    elif typ == "group":
        if group_id is None:
            raise _Invalid("missing_group_id", "group needs a groupId")
        if user_id is None and anonymous_id is None:
            raise _Invalid("missing_id", "group needs a userId or anonymousId")
    return Event(typ, ts_us, name, user_id, anonymous_id, message_id, group_id,
                 context, properties, traits, hint)


def _fit64(value: Any) -> Any:
    """`value` with every integer beyond 64 bits as the float orjson would have read (a JSON
    writer refuses them: forwarded properties and traits must serialize)."""
    if type(value) is dict:
        return {k: _fit64(v) for k, v in value.items()}
    if type(value) is list:
        return [_fit64(v) for v in value]
    if type(value) is int and not -(2 ** 63) <= value < 2 ** 64:
        return float(value)
    return value


def _one(d: Any, raw: bytes, now_us: int | None, skew_us: int, env_ctx: dict[str, Any] | None,
         env_sent: Any, env_received: Any, exact: bool) -> Event | Rejected:
    try:
        ev = _build(d, now_us, skew_us, env_ctx, env_sent, env_received)
        if exact:  # read again exactly for an id: only ids keep integers beyond 64 bits
            ev = Event(ev.type, ev.ts_us, ev.name, ev.user_id, ev.anonymous_id, ev.message_id,
                       ev.group_id, _fit64(ev.context), _fit64(ev.properties), _fit64(ev.traits),
                       ev.hint)
        return ev
    except _FloatId as fexc:
        if not exact:
            raise
        return Rejected(fexc.reason, fexc.detail, raw)
    except _Invalid as exc:
        return Rejected(exc.reason, exc.detail, raw)


def _batch(doc: dict[str, Any], raw: bytes, now_us: int | None, skew_us: int, exact: bool
           ) -> list[Event | Rejected]:
    batch = doc["batch"]
    if type(batch) is not list:
        return [Rejected("bad_batch", "batch must be a list", raw)]
    env_ctx = doc.get("context")
    if type(env_ctx) is not dict or not env_ctx:
        env_ctx = None  # absent, or not an object: ignored
    env_sent = doc.get("sentAt")
    env_received = doc.get("receivedAt")
    check_size = len(raw) > _SAFE_RAW
    out: list[Event | Rejected] = []
    for i, el in enumerate(batch):
        if type(el) is not dict:
            out.append(Rejected("not_object", f"batch[{i}] is not an object, got "
                                f"{type(el).__name__}", raw))
        elif "batch" in el:
            out.append(Rejected("nested_batch", f"batch[{i}] is itself an envelope", raw))
        elif check_size and event_size(el) > MAX_EVENT_BYTES:
            out.append(Rejected("oversize", f"batch[{i}] is over {MAX_EVENT_BYTES} bytes", raw))
        else:
            out.append(_one(el, raw, now_us, skew_us, env_ctx, env_sent, env_received, exact))
    return out


def parse_message(raw: bytes, *, now_us: int | None = None,
                  max_future_skew_us: int = 300_000_000) -> list[Event | Rejected]:
    """Parse one record (a Kafka message value, a replay line without its newline). Never raises.

    `now_us` is the wall clock for the future-skew check (every call); None disables it.
    """
    if len(raw) > MAX_RECORD_BYTES:
        return [Rejected("oversize", f"record is over {MAX_RECORD_BYTES} bytes", raw)]
    try:
        doc = _loads(raw)
    except _Invalid as exc:
        return [Rejected(exc.reason, exc.detail, raw)]
    try:
        return _parse_doc(doc, raw, now_us, max_future_skew_us, False)
    except _FloatId as fexc:  # read again, keeping integers beyond 64 bits exact
        try:
            doc = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError, TypeError):
            return [Rejected(fexc.reason, fexc.detail, raw)]
        return _parse_doc(doc, raw, now_us, max_future_skew_us, True)


def _parse_doc(doc: Any, raw: bytes, now_us: int | None, skew_us: int, exact: bool
               ) -> list[Event | Rejected]:
    if type(doc) is not dict:
        return [Rejected("not_object", f"an event must be a JSON object, got {type(doc).__name__}",
                         raw)]
    if "batch" in doc:
        return _batch(doc, raw, now_us, skew_us, exact)
    if len(raw) > _SAFE_RAW and event_size(doc) > MAX_EVENT_BYTES:
        return [Rejected("oversize", f"event is over {MAX_EVENT_BYTES} bytes", raw)]
    return [_one(doc, raw, now_us, skew_us, None, None, None, exact)]
