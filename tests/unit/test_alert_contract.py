"""The alert contract (streams/contracts/alert.py): the JSON on the `alerts` topic stays byte for
byte what the worker wrote before the contract existed, every alert survives a round trip, and a
malformed alert is rejected with the offending field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.bands import BAND_NAMES
from scoring.signals import ROUTES, SIGNALS
from streams.contracts.alert import (
    Alert,
    Band,
    Direction,
    Explain,
    Kind,
    MalformedAlertError,
    Reason,
    TopEvent,
)

RECORDED = Path(__file__).resolve().parents[1] / "data" / "alerts" / "recorded.jsonl"
KNOWN = ("alert_id", "kind", "account", "from", "to", "direction", "score", "score_7d_ago", "delta_7d", "at",
         "reason", "route", "action", "top_events", "traits", "components", "weakest_component", "explain")


def test_recorded_alerts_round_trip_byte_for_byte() -> None:
    lines = RECORDED.read_bytes().splitlines()
    assert len(lines) == 86
    for line in lines:
        assert Alert.parse(line).to_json() == line
        assert Alert.parse(orjson.loads(line)) == Alert.parse(line)  # a decoded dict parses the same


def test_recorded_alerts_cover_every_kind_reason_and_optional_shape() -> None:
    alerts = [Alert.parse(line) for line in RECORDED.read_bytes().splitlines()]
    assert {a.kind for a in alerts} == set(Kind)
    assert {a.reason for a in alerts} == set(Reason)
    assert {a.direction for a in alerts} == {Direction.UP, Direction.DOWN, Direction.NONE}  # initial: never sent
    assert {a.to_band for a in alerts} == set(Band)
    assert {a.score_7d_ago is None for a in alerts} == {True, False}
    assert {bool(a.top_events) for a in alerts} == {True, False}
    assert {bool(a.traits) for a in alerts} == {True, False}
    health = [a for a in alerts if a.kind is Kind.HEALTH]
    assert all(a.components is not None and a.explain is not None and a.explain.tickets is not None
               for a in health)
    assert {bool(a.explain.tickets) for a in health if a.explain} == {True, False}
    assert any(None in (a.explain.tickets or ()) for a in health if a.explain)  # a ticket without subject
    assert {a.explain.time_to_aha_s is None for a in health if a.explain} == {True, False}
    assert all(a.components is None and a.explain is None for a in alerts if a.kind is Kind.ENGAGEMENT)


# -- property tests ----------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
json_leaf = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | finite | st.text(max_size=20)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
text = st.text(max_size=30)
name = st.text(min_size=1, max_size=30)
explains = st.one_of(
    st.builds(Explain, st.dictionaries(text, json_value, max_size=3)),  # an engagement signal's
    st.builds(Explain, st.dictionaries(text, json_value, max_size=3),
              st.lists(st.none() | text, max_size=5).map(tuple), st.none() | finite),
)
alerts = st.builds(
    Alert, alert_id=name, kind=st.sampled_from(Kind), account=name,
    from_band=st.none() | st.sampled_from(Band), to_band=st.sampled_from(Band),
    direction=st.sampled_from(Direction), score=finite, at=name, reason=st.sampled_from(Reason),
    score_7d_ago=st.none() | finite, delta_7d=st.none() | finite, route=st.none() | text,
    action=st.none() | text,
    top_events=st.lists(st.builds(TopEvent, text, st.integers(0, 2**62), finite), max_size=4).map(tuple),
    traits=st.dictionaries(text, json_value, max_size=4),
    components=st.none() | st.dictionaries(text, st.none() | finite, max_size=4),
    weakest_component=st.none() | text, explain=st.none() | explains,
    extra=st.dictionaries(text.filter(lambda k: k not in KNOWN), json_value, max_size=3),
)


@given(alerts)
def test_any_alert_round_trips(alert: Alert) -> None:
    raw = alert.to_json()
    back = Alert.parse(raw)
    assert back == alert
    assert back.to_json() == raw
    assert Alert.parse(raw.decode()) == alert           # str input
    assert Alert.parse(orjson.loads(raw)) == alert      # decoded dict input
    assert list(orjson.loads(raw))[:15] == list(KNOWN[:15])  # the wire order of the fixed fields


@given(alerts, st.sampled_from(["alert_id", "kind", "account", "to", "direction", "score", "at", "reason"]))
def test_a_missing_required_field_is_named(alert: Alert, field: str) -> None:
    d = alert.to_dict()
    del d[field]
    with pytest.raises(MalformedAlertError, match=f"field '{field}'") as e:
        Alert.parse(d)
    assert e.value.field == field


# -- malformed alerts ---------------------------------------------------------------------------

GOOD: dict[str, Any] = orjson.loads(RECORDED.read_bytes().splitlines()[-1])  # a health signal alert


@pytest.mark.parametrize(("patch", "field"), [
    ({"kind": "billing"}, "kind"),
    ({"kind": None}, "kind"),
    ({"account": ""}, "account"),
    ({"account": 42}, "account"),
    ({"from": "purple"}, "from"),
    ({"to": None}, "to"),
    ({"to": "Red"}, "to"),
    ({"direction": "sideways"}, "direction"),
    ({"score": "12.5"}, "score"),
    ({"score": True}, "score"),
    ({"at": ""}, "at"),
    ({"reason": "usage_cliff"}, "reason"),
    ({"score_7d_ago": "high"}, "score_7d_ago"),
    ({"delta_7d": [1]}, "delta_7d"),
    ({"route": 3}, "route"),
    ({"action": {"a": 1}}, "action"),
    ({"top_events": "Login"}, "top_events"),
    ({"top_events": [7]}, "top_events[0]"),
    ({"top_events": [{"event": "Login", "count": 1, "points": 1.0}, {"event": "X", "count": 1.5, "points": 1.0}]},
     "top_events[1].count"),
    ({"top_events": [{"event": None, "count": 1, "points": 1.0}]}, "top_events[0].event"),
    ({"top_events": [{"event": "Login", "count": 1}]}, "top_events[0].points"),
    ({"traits": [1]}, "traits"),
    ({"components": {"usage": "high"}}, "components.usage"),
    ({"components": [1]}, "components"),
    ({"weakest_component": 3}, "weakest_component"),
    ({"explain": "because"}, "explain"),
    ({"explain": {"tickets": "SSO"}}, "explain.tickets"),
    ({"explain": {"tickets": ["SSO", 5]}}, "explain.tickets[1]"),
    ({"explain": {"tickets": [], "time_to_aha_s": "soon"}}, "explain.time_to_aha_s"),
    ({"explain": {"detail": [1]}}, "explain.detail"),
    ({"explain": {"detail": {}, "why": 1}}, "explain.why"),
])
def test_malformed_alerts_are_rejected_with_the_field_named(patch: dict[str, Any], field: str) -> None:
    raw = orjson.dumps({**GOOD, **patch})
    with pytest.raises(MalformedAlertError) as e:
        Alert.parse(raw)
    assert e.value.field == field
    assert f"field '{field}'" in str(e.value)


@pytest.mark.parametrize(("raw", "why"), [(b"", "not JSON"), (b"{nope", "not JSON"), (b"null", "not a JSON object"),
                                          (b"[1]", "not a JSON object but list")])
def test_not_an_object_is_rejected(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedAlertError, match=why) as e:
        Alert.parse(raw)
    assert e.value.field is None


def test_alerts_tail_shows_a_malformed_record_instead_of_failing() -> None:
    from streams.cli.tail import pretty

    assert pretty(b'{"alert_id": "a", "kind": "bogus"}').startswith(
        "(not a valid alert: field 'kind' is 'bogus', not one of engagement, health)")
    assert pretty(RECORDED.read_bytes().splitlines()[0]).startswith("2026-11-03T10:00:00+00:00  acme")


def test_unknown_fields_are_kept_and_forwarded_after_the_known_ones() -> None:
    a = Alert.parse(orjson.dumps({"zz_new": {"x": 1}, **GOOD, "channel": "c"}))
    assert a.extra == {"zz_new": {"x": 1}, "channel": "c"}
    assert list(orjson.loads(a.to_json()))[-2:] == ["zz_new", "channel"]


def test_missing_optional_fields_take_their_defaults() -> None:
    a = Alert.parse({k: GOOD[k] for k in ("alert_id", "kind", "account", "to", "direction", "score", "at",
                                          "reason")})
    assert (a.from_band, a.score_7d_ago, a.route, a.top_events, a.traits, a.components, a.explain, a.extra) \
        == (None, None, None, (), {}, None, None, {})
    assert Alert.parse({**GOOD, "score": 12}).score == 12.0 and isinstance(Alert.parse({**GOOD, "score": 12}).score,
                                                                           float)


# -- the vocabulary ---------------------------------------------------------------------------------

def test_band_order_is_worst_first() -> None:
    assert [b.value for b in sorted(Band, key=lambda b: b.rank)] == \
        ["at_risk", "red", "yellow", "green", "thriving"]
    assert BAND_NAMES == ("at_risk", "red", "yellow", "green", "thriving")
    assert Band.RED.rank < Band.YELLOW.rank and Band("at_risk") is Band.AT_RISK


@pytest.mark.parametrize(("frm", "to", "reason", "want"), [
    (None, "red", "band_change", "initial"),
    ("yellow", "red", "band_change", "down"),
    ("at_risk", "thriving", "sweep", "up"),
    ("red", "red", "nps_detractor", "none"),
    ("green", "green", "sharp_drop", "down"),
])
def test_direction(frm: str | None, to: str, reason: str, want: str) -> None:
    assert Direction.of(None if frm is None else Band(frm), Band(to), Reason(reason)) == want


def test_every_signal_has_a_route_and_a_label() -> None:
    assert set(SIGNALS) == set(ROUTES) == {r for r in Reason if r not in (Reason.BAND_CHANGE, Reason.SWEEP)}
    assert all(r.label for r in Reason) and len({r.label for r in Reason}) == len(Reason)
