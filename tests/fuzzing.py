"""Hypothesis strategies for hostile Kafka records, and the property every record must keep.

Used by the short fuzz run in tests/unit/test_fuzz_parser.py and the long one in
tests/bench/fuzz_parser.py (10^5 inputs, seed recorded)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

from scoring import events as ev_mod
from scoring.calls import Event, Rejected, ScoredEvent
from scoring.engine import Resolver
from scoring.events import parse_message

NOW_US = 1_798_761_600_000_000  # 2027-01-01T00:00:00Z
SKEW_US = 300_000_000

# every character class, lone surrogates included (json.dumps writes them as \udXXX escapes)
any_char = st.one_of(st.characters(codec=None), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
hostile_text = st.one_of(
    st.text(any_char, max_size=20),
    st.sampled_from(["", " ", "\n", "\r\nBcc: x@y", "<!channel>", "\x00", "\u2028", "NaN", "9" * 25,
                     "\ud800", "x\udfffy", "\udbff\udbff", "\ufeff", "\U0010ffff",
                     "=?utf-8?q?=0D=0A?=", "acct-1", "Login", "track", "2026-11-02T10:15:00Z"]),
)
numbers = st.one_of(st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 2 ** 63, 2 ** 64, 10 ** 30]))
leaf = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
json_value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=6)


def _iso(dt: datetime, sep: str, frac: str, zone: str) -> str:
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + zone


timestamps = st.one_of(
    st.builds(_iso, st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              st.sampled_from(["T", " ", "t", "_"]), st.sampled_from(["", ".5", ".123456789", ".", ",5"]),
              st.sampled_from(["Z", "z", "", "+05:30", "-0800", "+24:00", "+05", " UTC"])),
    st.builds(lambda d: (datetime(2026, 11, 2, tzinfo=UTC) + timedelta(seconds=d)).isoformat(),
              st.integers(-10 ** 9, 10 ** 9)),
    json_value,
)
ids = st.one_of(hostile_text, st.integers(-(2 ** 70), 2 ** 70), json_value)
FIELDS: dict[str, Any] = {
    "type": st.one_of(st.sampled_from(["track", "page", "screen", "identify", "group", "alias", "delete",
                                       "TRACK", "boom"]), json_value),
    "event": st.one_of(st.sampled_from(["Login", "Teammate Invited", ""]), json_value),
    "userId": ids, "anonymousId": ids, "messageId": ids, "groupId": ids,
    "context": st.one_of(st.fixed_dictionaries({}, optional={"groupId": ids}), json_value),
    "properties": st.one_of(st.fixed_dictionaries({}, optional={"accountId": ids}), json_value),
    "traits": json_value,
    "timestamp": timestamps, "originalTimestamp": timestamps, "sentAt": timestamps, "receivedAt": timestamps,
    "batch": json_value,
}
events = st.fixed_dictionaries({"type": FIELDS["type"]}, optional={k: v for k, v in FIELDS.items() if k != "type"})
GOOD: dict[str, Any] = {"type": "track", "event": "Login", "userId": "u-1", "context": {"groupId": "acct-1"},
                        "messageId": "m-1", "timestamp": "2026-11-02T10:15:00Z", "properties": {"plan": "pro"}}


def _near(changes: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """A valid event with a few fields replaced by hostile values or dropped."""
    doc = {**GOOD, **changes}
    for key in dropped:
        doc.pop(key, None)
    return doc


typed_ids = st.one_of(hostile_text, st.integers(-(2 ** 63), 2 ** 64 - 1))
NEAR: dict[str, Any] = {
    "userId": typed_ids, "messageId": typed_ids, "event": hostile_text, "timestamp": timestamps,
    "context": st.fixed_dictionaries({"groupId": typed_ids}),
    "properties": st.dictionaries(hostile_text, json_value, max_size=3),
    "traits": st.dictionaries(hostile_text, json_value, max_size=3)}
near_valid = st.one_of(
    # one field changed (most of these stay valid: the path where a value must survive serialization)
    *[st.builds(lambda v, k=k: _near({k: v}, []), strategy) for k, strategy in NEAR.items()],
    st.builds(_near, st.fixed_dictionaries({}, optional=NEAR), st.lists(st.sampled_from(list(GOOD)), max_size=1)))
documents = st.one_of(near_valid, near_valid, events, st.builds(lambda b, c: {"batch": b, **c}, st.lists(events | json_value, max_size=4),
                                        st.fixed_dictionaries({}, optional={"context": json_value,
                                                                             "sentAt": timestamps,
                                                                             "receivedAt": timestamps})),
                      json_value)


def _dump(doc: Any, ascii_only: bool) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")


def _mutate(raw: bytes, how: int, at: int, byte: int) -> bytes:
    if not raw:
        return raw
    i = at % len(raw)
    return [raw, raw[:i], raw[:i] + bytes([byte]) + raw[i:], raw[:i] + raw[i + 1:],
            raw[:i] + bytes([byte]) + raw[i + 1:]][how % 5]


records = st.one_of(
    st.builds(_dump, near_valid, st.booleans()),
    st.builds(_dump, near_valid, st.booleans()),
    st.builds(_dump, st.builds(lambda b: {"batch": b}, st.lists(near_valid, max_size=3)), st.booleans()),
    st.binary(max_size=300),
    st.builds(_mutate, st.builds(_dump, documents, st.booleans()), st.integers(0, 4), st.integers(0, 10 ** 6),
              st.integers(0, 255)),
    st.builds(_dump, documents, st.booleans()),
)


def check(raw: bytes) -> list[str]:
    """The property: parsing never raises, gives Events and Rejected (with a known reason and the
    record's bytes), is deterministic, and whatever the worker then writes (scored events, group
    traits) serializes. Returns the outcome tokens."""
    items = parse_message(raw, now_us=NOW_US, max_future_skew_us=SKEW_US)
    reasons = getattr(ev_mod, "REASONS", None)
    resolver = Resolver()
    got = []
    for item in items:
        assert isinstance(item, Event | Rejected), item
        routed = item if isinstance(item, Rejected) else resolver.route(item)
        if isinstance(routed, Rejected):
            assert routed.reason and (reasons is None or routed.reason in reasons), routed.reason
            got.append(f"invalid:{routed.reason}")
        elif isinstance(routed, ScoredEvent):
            again = ScoredEvent.from_json(routed.to_json())
            assert again.account == routed.account and again.ts_us == routed.ts_us
            got.append("scored")
        else:
            assert isinstance(item, Event)
            orjson.dumps({"traits": item.traits, "group": item.group_id})
            got.append("valid")
    again = [type(x).__name__ + (getattr(x, "reason", "") or "") for x in parse_message(
        raw, now_us=NOW_US, max_future_skew_us=SKEW_US)]
    assert again == [type(x).__name__ + (getattr(x, "reason", "") or "") for x in items]
    return got
