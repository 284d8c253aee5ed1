"""Parsing and validation of Segment events (hand-written cases + fuzzing)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine import Resolver
from scoring.events import MAX_EVENT_BYTES, Event, Rejected, ScoredEvent, parse_message

TS = "2026-11-02T10:15:00Z"


def one(doc) -> Event | Rejected:
    [item] = parse_message(orjson.dumps(doc))
    return item


def reason(doc) -> str:
    item = one(doc)
    assert isinstance(item, Rejected), item
    return item.reason


def test_valid_track_event() -> None:
    ev = one({"type": "track", "event": "Login", "userId": "u", "timestamp": TS,
              "context": {"groupId": "acct"}, "messageId": "m"})
    assert isinstance(ev, Event)
    assert (ev.name, ev.user_id, ev.message_id, ev.context["groupId"]) == ("Login", "u", "m", "acct")
    assert ev.ts_us == 1_793_614_500_000_000  # 2026-11-02T10:15:00Z, computed with `date -d ... +%s`


@pytest.mark.parametrize(("doc", "code"), [
    ({"type": "track", "event": "Login", "userId": "u"}, "missing_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": "2026-11-02T10:15:00"}, "bad_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": "yesterday"}, "bad_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": 1790000000}, "bad_timestamp"),
    ({"type": "track", "userId": "u", "timestamp": TS}, "missing_event"),
    ({"type": "alias", "userId": "u", "timestamp": TS}, "unknown_type"),
    ({"event": "Login", "userId": "u", "timestamp": TS}, "missing_type"),
    ({"type": "track", "event": "Login", "userId": 17, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": "u", "context": [1], "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": "u", "properties": "x", "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "context": {"groupId": 5}, "userId": "u", "timestamp": TS},
     "bad_type"),
    ({"type": "group", "userId": "u", "timestamp": TS}, "missing_group_id"),
    ({"type": "identify", "timestamp": TS}, "missing_id"),
])
def test_invalid_events_have_a_reason(doc, code) -> None:
    assert reason(doc) == code


def test_null_and_empty_string_are_absent() -> None:
    ev = one({"type": "page", "userId": "", "anonymousId": "anon", "messageId": None,
              "context": None, "properties": "", "timestamp": TS})
    assert isinstance(ev, Event)
    assert (ev.user_id, ev.anonymous_id, ev.message_id, ev.name) == (None, "anon", None, "Page Viewed")


def test_batch_envelope_merges_context_under_the_elements() -> None:
    raw = orjson.dumps({"batch": [
        {"type": "track", "event": "A", "userId": "u", "timestamp": TS, "context": {"groupId": "own"}},
        {"type": "screen", "userId": "u", "timestamp": TS},
        {"type": "track", "event": "B", "userId": "u", "timestamp": TS, "context": {"ip": "1"}},
        "junk",
    ], "context": {"groupId": "env", "ip": "0"}})
    a, b, c, d = parse_message(raw)
    assert isinstance(a, Event) and a.context == {"groupId": "own", "ip": "0"}
    assert isinstance(b, Event) and b.context == {"groupId": "env", "ip": "0"} and b.name == "Screen Viewed"
    assert isinstance(c, Event) and c.context == {"groupId": "env", "ip": "1"}
    assert isinstance(d, Rejected) and d.reason == "not_object"


@pytest.mark.parametrize("raw", [b'{"batch": {"a": 1}}', b'{"batch": null, "type": "track"}'])
def test_a_batch_that_is_not_a_list_is_one_invalid_event(raw: bytes) -> None:
    assert [r.reason for r in parse_message(raw)] == ["bad_batch"]  # type: ignore[union-attr]


def test_empty_batch_is_no_event() -> None:
    assert parse_message(b'{"batch": []}') == []


def test_oversize_event() -> None:
    doc = {"type": "track", "event": "A", "userId": "u", "timestamp": TS,
           "properties": {"blob": "x" * MAX_EVENT_BYTES}}
    assert reason(doc) == "oversize"


def test_future_skew_only_with_a_wall_clock() -> None:
    raw = orjson.dumps({"type": "track", "event": "A", "userId": "u", "timestamp": "2030-01-01T00:00:00Z"})
    now = 1_793_614_500_000_000
    assert isinstance(parse_message(raw)[0], Event)
    rejected = parse_message(raw, now_us=now)[0]
    assert isinstance(rejected, Rejected) and rejected.reason == "future_timestamp"


def test_account_resolution_order() -> None:
    r = Resolver()
    base = {"type": "track", "event": "A", "timestamp": TS}

    def account(**kw):
        ev = one({**base, **kw})
        assert isinstance(ev, Event)
        routed = r.route(ev)
        return routed.account if isinstance(routed, ScoredEvent) else routed.reason  # type: ignore[union-attr]

    assert account(userId="u", context={"groupId": "g"}, properties={"accountId": "p"}) == "g"
    assert account(userId="u", properties={"accountId": "p"}) == "p"
    assert account(userId="u") == "u"  # B2C: the user is the customer
    for grp in ("g1", "g2"):  # the latest group call, in arrival order, wins
        ev = one({"type": "group", "userId": "u", "groupId": grp, "timestamp": TS, "traits": {"plan": grp}})
        assert isinstance(ev, Event)
        assert r.route(ev) is None
    assert account(userId="u") == "g2"
    assert r.traits("g2") == {"plan": "g2"}
    assert account(anonymousId="anon") == "anon"
    assert account() == "no_account"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "event", "userId", "anonymousId", "messageId", "context",
                         "properties", "traits", "timestamp", "batch", "groupId", "accountId", "x"]),
        children, max_size=6),
    max_leaves=30)


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_parser_never_raises_on_bytes(raw: bytes) -> None:
    for item in parse_message(raw):
        assert isinstance(item, Event | Rejected)


@given(json_values)
@settings(max_examples=500, deadline=None)
def test_parser_never_raises_on_json_of_any_shape(doc) -> None:
    items = parse_message(json.dumps(doc).encode())
    r = Resolver()
    for item in items:
        assert isinstance(item, Event | Rejected)
        if isinstance(item, Event):
            r.route(item)


@pytest.mark.parametrize("raw", [
    b"[" * 100_000, b'{"a":' * 10_000, b'{"type": "track", "n": 1' + b"0" * 5000 + b"}",
    b'{"type": "track", "x": NaN}', b"\xff\xfe", b'{"type": "track", "event": "\\ud800"}',
])
def test_hostile_inputs_are_rejected_not_raised(raw: bytes) -> None:
    assert all(isinstance(i, Rejected) for i in parse_message(raw))
