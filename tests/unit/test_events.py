"""Parsing and validation of Segment events (hand-written cases + fuzzing)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.calls import Event, Rejected, ScoredEvent
from scoring.engine import Resolver
from scoring.events import MAX_EVENT_BYTES, MAX_RECORD_BYTES, REASONS, parse_message

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
    ({"type": "track", "event": "Login", "userId": "u", "sentAt": TS}, "missing_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": "2026-11-02"}, "bad_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": "yesterday"}, "bad_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": 1790000000}, "bad_timestamp"),
    # a present but bad timestamp does not fall through to the other fields
    ({"type": "track", "event": "Login", "userId": "u", "timestamp": "x", "originalTimestamp": TS},
     "bad_timestamp"),
    ({"type": "track", "event": "Login", "userId": "u", "originalTimestamp": TS, "sentAt": "soon",
      "receivedAt": TS}, "bad_timestamp"),
    ({"type": "track", "userId": "u", "timestamp": TS}, "missing_event"),
    ({"type": "purchase", "userId": "u", "timestamp": TS}, "unknown_type"),
    ({"event": "Login", "userId": "u", "timestamp": TS}, "missing_type"),
    ({"type": "track", "event": "Login", "userId": True, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": 17.0, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": "u", "messageId": 1.5, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": "u", "groupId": False, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": 5, "userId": "u", "timestamp": TS}, "bad_type"),
    ({"type": "identify", "event": 5, "userId": "u", "timestamp": TS}, "bad_type"),  # every call
    ({"type": "track", "event": "Login", "userId": "u", "context": [1], "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "userId": "u", "properties": "x", "timestamp": TS}, "bad_type"),
    ({"type": "identify", "userId": "u", "traits": 3, "timestamp": TS}, "bad_type"),
    ({"type": "track", "event": "Login", "context": {"groupId": 5.5}, "userId": "u", "timestamp": TS},
     "bad_type"),
    ({"type": "track", "event": "Login", "properties": {"accountId": True}, "context": {"groupId": "g"},
      "userId": "u", "timestamp": TS}, "bad_type"),
    ({"type": "group", "userId": "u", "timestamp": TS}, "missing_group_id"),
    ({"type": "group", "groupId": 4242, "timestamp": TS}, "missing_id"),
])
def test_invalid_events_have_a_reason(doc, code) -> None:
    assert reason(doc) == code


@pytest.mark.parametrize("doc", [
    {"type": "identify", "timestamp": TS},  # identify needs no id
    {"type": "alias", "userId": "u", "previousId": "anon", "timestamp": TS},
    {"type": "delete", "userId": 12, "context": [], "timestamp": TS},
    {"type": "identify", "userId": "u", "context": [], "traits": [], "properties": [], "timestamp": TS},
])
def test_valid_calls_that_are_not_scored(doc) -> None:
    ev = one(doc)
    assert isinstance(ev, Event) and not ev.scored
    assert ev.context == {} and ev.traits == {}
    assert Resolver().route(ev) is None


def test_integer_ids_count_as_their_decimal_string() -> None:
    ev = one({"type": "track", "event": "Login", "userId": 17, "anonymousId": -3, "messageId": 99,
              "context": {"groupId": 4242}, "timestamp": TS})
    assert isinstance(ev, Event)
    assert (ev.user_id, ev.anonymous_id, ev.message_id, ev.hint) == ("17", "-3", "99", "4242")
    [big] = parse_message(json.dumps({"type": "track", "event": "Login", "userId": 2**70,
                                       "timestamp": TS}).encode())  # beyond 64 bits: not orjson's
    assert isinstance(big, Event) and big.user_id == "1180591620717411303424"
    r = Resolver()
    grp = one({"type": "group", "userId": 17, "groupId": 4242, "timestamp": TS})
    assert isinstance(grp, Event) and r.route(grp) is None
    later = one({"type": "track", "event": "Login", "userId": "17", "timestamp": TS})
    assert isinstance(later, Event)
    routed = r.route(later)
    assert isinstance(routed, ScoredEvent) and routed.account == "4242"
    acc = one({"type": "track", "event": "Login", "userId": "u", "properties": {"accountId": 7},
               "timestamp": TS})
    assert isinstance(acc, Event) and acc.hint == "7"


def test_an_anonymous_group_call_maps_its_sender_one_namespace() -> None:
    r = Resolver()
    for doc in ({"type": "group", "anonymousId": "v1", "groupId": "acct", "timestamp": TS},):
        ev = one(doc)
        assert isinstance(ev, Event) and r.route(ev) is None

    def account(**kw) -> str:
        ev = one({"type": "page", "timestamp": TS, **kw})
        assert isinstance(ev, Event)
        routed = r.route(ev)
        assert isinstance(routed, ScoredEvent)
        return routed.account

    assert account(anonymousId="v1") == "acct"
    assert account(userId="v1") == "acct"  # userId and anonymousId share one namespace of senders
    assert account(userId="u2", anonymousId="v1") == "u2"  # the sender is the userId when there is one
    assert account(anonymousId="v1", context={"groupId": "own"}) == "own"


# 2026-11-02T10:15:00Z is 1_793_614_500 s (test_valid_track_event)
T = 1_793_614_500_000_000


@pytest.mark.parametrize(("fields", "expected"), [
    ({"timestamp": TS, "sentAt": "garbage", "originalTimestamp": 5}, T),  # only the fields used are read
    # receivedAt - (sentAt - originalTimestamp): the client clock is 1 h ahead, 2 s in flight
    ({"originalTimestamp": "2026-11-02T11:15:00Z", "sentAt": "2026-11-02T11:15:02Z",
      "receivedAt": "2026-11-02T10:15:02Z"}, T),
    ({"originalTimestamp": "2026-11-02T10:15:00.250Z", "sentAt": "2026-11-02 10:15:01",
      "receivedAt": "2026-11-02T12:15:03+0200"}, T + 2_250_000),
    ({"originalTimestamp": "2026-11-02T10:15:00z", "sentAt": "2026-11-02T10:15:09Z"}, T),  # no receivedAt
    ({"originalTimestamp": "2026-11-02T10:15:00Z", "receivedAt": "2026-11-03T00:00:00Z"}, T),  # no sentAt
    ({"originalTimestamp": "2026-11-02T10:15:00Z", "sentAt": None, "receivedAt": ""}, T),
    ({"receivedAt": "2026-11-02T10:15:00", "sentAt": "garbage"}, T),
    ({"timestamp": None, "receivedAt": "2026-11-02T10:15:00Z"}, T),
])
def test_event_time(fields, expected) -> None:
    ev = one({"type": "track", "event": "Login", "userId": "u", **fields})
    assert isinstance(ev, Event), ev
    assert ev.ts_us == expected


def test_null_and_empty_string_are_absent() -> None:
    ev = one({"type": "page", "userId": "", "anonymousId": "anon", "messageId": None,
              "context": None, "properties": "", "timestamp": TS})
    assert isinstance(ev, Event)
    assert (ev.user_id, ev.anonymous_id, ev.message_id, ev.name) == (None, "anon", None, "Page Viewed")


def test_envelope_times_apply_field_by_field_and_a_bad_context_is_ignored() -> None:
    raw = orjson.dumps({"batch": [
        {"type": "track", "event": "A", "userId": "u", "originalTimestamp": "2026-11-02T11:15:00Z"},
        {"type": "track", "event": "B", "userId": "u", "originalTimestamp": "2026-11-02T11:15:00Z",
         "sentAt": "2026-11-02T11:14:00Z"},  # its own sentAt, the envelope's receivedAt
        {"type": "track", "event": "C", "userId": "u", "timestamp": TS, "sentAt": None},
        {"type": "track", "event": "D", "userId": "u", "context": {"groupId": None}},
        {"batch": []},
    ], "sentAt": "2026-11-02T11:15:02Z", "receivedAt": "2026-11-02T10:15:02Z", "context": "ctx"})
    a, b, c, d, e = parse_message(raw)
    assert isinstance(a, Event) and a.ts_us == T and a.context == {}
    assert isinstance(b, Event) and b.ts_us == T + 62_000_000  # 10:15:02 - (11:14:00 - 11:15:00) = 10:16:02
    assert isinstance(c, Event) and c.ts_us == T
    assert isinstance(d, Event) and d.ts_us == T + 2_000_000  # receivedAt alone: 10:15:02
    assert isinstance(e, Rejected) and e.reason == "nested_batch"
    env_ctx = orjson.dumps({"batch": [{"type": "track", "event": "A", "userId": "u", "timestamp": TS,
                                       "context": {"groupId": None, "ip": "1"}}],
                            "context": {"groupId": "env", "ip": "0"}})
    [f] = parse_message(env_ctx)
    assert isinstance(f, Event) and f.context == {"groupId": None, "ip": "1"} and f.hint is None


def test_sizes_are_compact_utf8_alone_or_in_a_batch() -> None:
    def track(note: str) -> dict:
        return {"type": "track", "event": "A", "userId": "u", "timestamp": TS, "properties": {"n": note}}
    base = len(orjson.dumps(track("")))
    exact = track("x" * (MAX_EVENT_BYTES - base))  # exactly 32,768 bytes: valid
    over = track("x" * (MAX_EVENT_BYTES - base + 1))
    assert len(orjson.dumps(exact)) == MAX_EVENT_BYTES
    for doc, ok in ((exact, True), (over, False)):
        spaced = json.dumps(doc, indent=4).encode()  # raw bytes are longer: not what counts
        for raw in (spaced, orjson.dumps(doc), orjson.dumps({"batch": [doc, track("y")]})):
            items = parse_message(raw)
            assert isinstance(items[0], Event) is ok, raw[:80]
            if not ok:
                assert items[0].reason == "oversize"  # type: ignore[union-attr]
    # é is 2 bytes raw UTF-8 but 6 as a \u escape: 12,000 of them are 24 KB, valid
    escaped = json.dumps(track("é" * 12_000), ensure_ascii=True).encode()
    assert len(escaped) > MAX_EVENT_BYTES and isinstance(parse_message(escaped)[0], Event)
    too_wide = json.dumps(track("é" * 17_000), ensure_ascii=True).encode()  # 34 KB as UTF-8
    assert [i.reason for i in parse_message(too_wide)] == ["oversize"]  # type: ignore[union-attr]


def test_the_received_at_stamp_is_not_counted_in_the_event_size() -> None:
    """pulse ingest stamps receivedAt (~40 bytes) after the client sent the event: an event of
    exactly 32,768 bytes as the client wrote it stays valid once stamped, one byte more does not."""
    def track(note: str) -> dict:
        return {"type": "track", "event": "A", "userId": "u", "timestamp": TS, "properties": {"n": note}}
    base = len(orjson.dumps(track("")))
    exact, over = track("x" * (MAX_EVENT_BYTES - base)), track("x" * (MAX_EVENT_BYTES - base + 1))
    assert len(orjson.dumps(exact)) == MAX_EVENT_BYTES
    for doc, ok in ((exact, True), (over, False)):
        stamped = {**doc, "receivedAt": "2026-11-30T18:50:00.123Z"}
        assert len(orjson.dumps(stamped)) > MAX_EVENT_BYTES
        for raw in (orjson.dumps(stamped), orjson.dumps({"batch": [stamped]})):
            [item] = parse_message(raw)
            assert isinstance(item, Event) is ok, (ok, item)


def test_a_record_over_500_kb_is_one_invalid_event() -> None:
    el = {"type": "track", "event": "A", "userId": "u", "timestamp": TS, "properties": {"n": "x" * 24_000}}
    ok = orjson.dumps({"batch": [el] * 20})
    assert len(ok) < MAX_RECORD_BYTES and all(isinstance(i, Event) for i in parse_message(ok))
    big = orjson.dumps({"batch": [el] * 21})
    assert len(big) > MAX_RECORD_BYTES
    assert [i.reason for i in parse_message(big)] == ["oversize"]  # type: ignore[union-attr]


def test_future_skew_applies_to_every_call() -> None:
    now = T
    for typ in ("identify", "group", "alias", "track"):
        doc = {"type": typ, "event": "A", "userId": "u", "groupId": "g"}
        ahead = parse_message(orjson.dumps({**doc, "timestamp": "2026-11-02T10:20:00.000001Z"}), now_us=now)
        assert [i.reason for i in ahead] == ["future_timestamp"]  # type: ignore[union-attr]
        edge = parse_message(orjson.dumps({**doc, "timestamp": "2026-11-02T10:20:00Z"}), now_us=now)
        assert isinstance(edge[0], Event)  # exactly 5 min ahead: not more


def test_every_reason_is_documented() -> None:
    assert set(REASONS) >= {"oversize", "not_json", "not_object", "bad_batch", "nested_batch",
                            "missing_type", "bad_type", "unknown_type", "missing_timestamp",
                            "bad_timestamp", "future_timestamp", "missing_event", "missing_group_id",
                            "missing_id", "no_account"}


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
        assert not isinstance(item, Rejected) or item.reason in REASONS


@given(json_values)
@settings(max_examples=500, deadline=None)
def test_parser_never_raises_on_json_of_any_shape(doc) -> None:
    items = parse_message(json.dumps(doc).encode())
    r = Resolver()
    for item in items:
        assert isinstance(item, Event | Rejected)
        if isinstance(item, Event):
            routed = r.route(item)
            assert not isinstance(routed, Rejected) or routed.reason in REASONS
        else:
            assert item.reason in REASONS


@pytest.mark.parametrize("raw", [
    b"[" * 100_000, b'{"a":' * 10_000, b'{"type": "track", "n": 1' + b"0" * 5000 + b"}",
    b'{"type": "track", "x": NaN}', b"\xff\xfe", b'{"type": "track", "event": "\\ud800"}',
])
def test_hostile_inputs_are_rejected_not_raised(raw: bytes) -> None:
    assert all(isinstance(i, Rejected) for i in parse_message(raw))
