"""Pure notifier decisions: routing (band-table defaults, first match / continue, traits), the
cooldown rule, backoff with jitter, retry-or-dead-letter, alert validation, config errors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.errors import ConfigError
from streams.contracts.alert import Alert, Band, MalformedAlertError
from streams.notify.config import NotifierSettings, parse_config
from streams.notify.cooldown import Record, decide
from streams.notify.retry import backoff, delay, should_retry
from streams.notify.route import route_alert

SECRET = "whsec_" + "A" * 32
HOOK = '[channels.{n}]\ntype = "webhook"\nurl = "https://hooks.example.com/{n}"\nsecret = "' + SECRET + '"\n'
ALL_DEFAULT = "".join(HOOK.format(n=n) for n in ("csm", "guidance", "expansion"))
BAND_ORDER = ["at_risk", "red", "yellow", "green", "thriving"]  # worst first
bands = st.sampled_from(BAND_ORDER)


def alert_dict(frm: str | None, to: str, **kw: object) -> dict[str, object]:
    direction = "initial" if frm is None else ("up" if BAND_ORDER.index(to) > BAND_ORDER.index(frm) else "down")
    return {"alert_id": "x", "kind": "engagement", "account": "a", "from": frm, "to": to,
            "direction": direction, "score": 50.0, "at": "2026-11-02T10:00:00+00:00", "reason": "band_change",
            "traits": {"plan": "team"}, **kw}


def alert(frm: str | None, to: str, **kw: object) -> Alert:
    return Alert.parse(alert_dict(frm, to, **kw))


@given(frm=bands, to=bands)
def test_default_routes_follow_the_band_table(frm: str, to: str) -> None:
    routes = parse_config(ALL_DEFAULT).effective_routes()
    got = [t.channel for t in route_alert(alert(frm, to), routes, 60.0)]
    if frm == to:
        return
    down = BAND_ORDER.index(to) < BAND_ORDER.index(frm)
    if to in ("at_risk", "red"):
        assert got == (["csm"] if down else [])
    elif to == "yellow":
        assert got == ["guidance"]
    elif to == "thriving":
        assert got == ["expansion"]
    else:
        assert got == []  # green: nothing


@pytest.mark.parametrize(("reason", "band", "direction", "channel"), [
    # each signal's suggested action (docs/semantics.md#signals): who acts on it
    ("nps_detractor", "yellow", "none", "csm"),          # CSM call within 24 h
    ("payment_failed", "green", "none", "csm"),          # billing follow-up
    ("subscription_past_due", "red", "none", "csm"),
    ("contraction", "green", "none", "csm"),             # contact the account at once
    ("sharp_drop", "yellow", "down", "csm"),             # review before it changes band (not guidance)
    ("nps_promoter", "green", "none", "expansion"),      # referral ask
    ("onboarding_stalled", "yellow", "none", "guidance"),
])
def test_default_routes_deliver_signal_alerts(reason: str, band: str, direction: str, channel: str) -> None:
    routes = parse_config(ALL_DEFAULT).effective_routes()
    sig = Alert.parse({**alert_dict(band, band), "reason": reason, "direction": direction})
    got = route_alert(sig, routes, 60.0)
    assert [t.channel for t in got] == [channel]
    assert got[0].route == f"signal-{reason}"  # its own cooldown key, apart from other signals


def test_default_routes_skip_unconfigured_channels() -> None:
    routes = parse_config(HOOK.format(n="csm")).effective_routes()
    assert [r.name for r in routes] == [
        "signal-nps_detractor", "signal-payment_failed", "signal-subscription_past_due",
        "signal-contraction", "signal-sharp_drop", "csm-at-risk-red"]
    assert route_alert(alert("green", "yellow"), routes, 0) == []


def test_first_match_wins_unless_continue_and_traits_match() -> None:
    cfg = parse_config(HOOK.format(n="a") + HOOK.format(n="b") + HOOK.format(n="c") + """
[[routes]]
name = "enterprise-red"
to = ["red"]
traits = { plan = ["enterprise"] }
channels = ["a", "b"]
cooldown_seconds = 10
continue = true
[[routes]]
name = "any-red"
to = ["red"]
channels = ["b", "c"]
[[routes]]
name = "never"
channels = ["c"]
""")
    ent = route_alert(alert("yellow", "red", traits={"plan": "enterprise"}), cfg.effective_routes(), 99)
    assert [(t.route, t.channel, t.cooldown_seconds) for t in ent] == [
        ("enterprise-red", "a", 10), ("enterprise-red", "b", 10), ("any-red", "c", 99)]  # b once
    team = route_alert(alert("yellow", "red"), cfg.effective_routes(), 99)
    assert [(t.route, t.channel) for t in team] == [("any-red", "b"), ("any-red", "c")]
    other = route_alert(alert("green", "yellow"), cfg.effective_routes(), 99)
    assert [t.route for t in other] == ["never"]


def test_routes_match_the_alerts_own_route_field() -> None:
    cfg = parse_config(HOOK.format(n="a") + HOOK.format(n="b") + """
[[routes]]
name = "calls"
alert_route = ["csm_call", "csm_immediate"]
channels = ["a"]
[[routes]]
name = "rest"
channels = ["b"]
""")
    routes = cfg.effective_routes()
    call = alert("red", "red", reason="nps_detractor", route="csm_call")
    assert [t.route for t in route_alert(call, routes, 9)] == ["calls"]
    review = alert("yellow", "red", route="csm_review")
    assert [t.route for t in route_alert(review, routes, 9)] == ["rest"]
    assert [t.route for t in route_alert(alert("yellow", "red"), routes, 9)] == ["rest"]  # no field


def test_a_route_can_match_signals_by_direction_none() -> None:
    cfg = parse_config(HOOK.format(n="a") + HOOK.format(n="b") + """
[[routes]]
name = "signals"
direction = ["none"]
channels = ["a"]
[[routes]]
name = "rest"
channels = ["b"]
""")
    routes = cfg.effective_routes()
    sig = Alert.parse({**alert_dict("red", "red"), "reason": "payment_failed", "direction": "none"})
    assert [t.route for t in route_alert(sig, routes, 9)] == ["signals"]
    assert [t.route for t in route_alert(alert("yellow", "red"), routes, 9)] == ["rest"]


@given(rec_band=bands, band=bands, now=st.floats(0, 1e9), cooldown=st.floats(0.001, 1e6),
       age=st.floats(0, 2e6), same=st.booleans())
def test_cooldown_rule(rec_band: str, band: str, now: float, cooldown: float, age: float, same: bool) -> None:
    rec = Record("a1", Band(rec_band), now - age + cooldown)  # opened `age` seconds ago
    d = decide(rec, alert_id="a1" if same else "a2", band=Band(band), now=now, cooldown=cooldown)
    worse = BAND_ORDER.index(band) < BAND_ORDER.index(rec_band)
    expired = now >= rec.until
    assert d.send == (expired or same or worse)
    if (d.send and not same) or expired:
        assert d.record == Record("a1" if same else "a2", Band(band), now + cooldown)
    assert decide(None, alert_id="z", band=Band(band), now=now, cooldown=cooldown).send
    assert decide(rec, alert_id="z", band=Band(band), now=now, cooldown=0).send  # cooldown 0: never held


def test_cooldown_damaged_record_holds_nothing_back() -> None:
    assert Record.loads("{not json") is None
    assert Record.loads('{"alert_id": "a"}') is None
    assert Record.loads('{"alert_id": "a", "band": "purple", "until": 1e12}') is None
    rec = Record.loads('{"alert_id": "a", "band": "red", "until": 1e12}')
    assert rec == Record("a", Band.RED, 1e12) and Record.loads(rec.dumps()) == rec


@given(attempts=st.integers(1, 200), base=st.floats(0.01, 10), cap=st.floats(10, 1000), seed=st.integers())
def test_backoff_is_capped_exponential_with_equal_jitter(attempts: int, base: float, cap: float, seed: int) -> None:
    d = backoff(attempts, base=base, cap=cap, rng=random.Random(seed))
    nominal = min(cap, base * 2 ** (attempts - 1))
    assert nominal / 2 <= d <= nominal


def test_backoff_spreads_retries_out() -> None:
    rng = random.Random(1)
    assert len({round(backoff(3, base=1, cap=60, rng=rng), 6) for _ in range(50)}) > 40


def test_retry_after_wins_and_is_clamped() -> None:
    cfg = NotifierSettings(retry_after_max_seconds=120)
    rng = random.Random(0)
    assert delay(1, 7.0, cfg, rng) == 7.0
    assert delay(1, 10_000.0, cfg, rng) == 120.0
    assert 0.5 <= delay(1, None, cfg, rng) <= 1.0


@given(attempts=st.integers(1, 50), n=st.integers(1, 50), retryable=st.booleans())
def test_retry_or_dead_letter(attempts: int, n: int, retryable: bool) -> None:
    assert should_retry(retryable, attempts, n) == (retryable and attempts < n)


@pytest.mark.parametrize("raw, why", [
    (b"{nope", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"alert_id": "a", "kind": "engagement", "account": "x", "to": "purple", "direction": "down", '
     b'"reason": "r"}', "'to'"),
    (b'{"alert_id": "", "kind": "engagement"}', "alert_id"),
    (b'{"alert_id": "a", "kind": "engagement", "account": "x", "to": "red", "direction": "down", "score": 1, '
     b'"at": "2026-11-02T10:00:00+00:00", "reason": "sweep", "traits": [1]}', "traits"),
])
def test_malformed_alerts_are_named(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedAlertError, match=why):
        Alert.parse(raw)


def test_valid_alert_parses_and_gets_traits() -> None:
    a = Alert.parse(b'{"alert_id": "a", "kind": "health", "account": "x", "from": null, "to": "red", '
                    b'"direction": "initial", "score": 12.5, "at": "2026-11-02T10:00:00+00:00", "reason": "sweep"}')
    assert a.traits == {} and a.to_band is Band.RED and a.from_band is None


@pytest.mark.parametrize("toml, key, why", [
    ("[notifier]\nmax_atempts = 3\n", "notifier.max_atempts", "unknown key"),
    ("[notifier]\nmax_attempts = 0\n", "notifier.max_attempts", "greater than or equal to 1"),
    ("[notifier]\nclaim_idle_seconds = 5\nsend_timeout_seconds = 10\n", "notifier", "claim_idle_seconds"),
    ('[[routes]]\nname = "r"\nchannels = ["nope"]\n', "(top level)", "names channel 'nope'"),
    ('[[routes]]\nname = "r"\nto = ["purple"]\nchannels = ["x"]\n', "routes.0.to.0", "Input should be"),
    ('[[routes]]\nname = "r"\nreason = ["nps_detracter"]\nchannels = ["x"]\n', "routes.0.reason.0",
     "'nps_detractor'"),
    ('[[routes]]\nname = "r"\ndirection = ["sideways"]\nchannels = ["x"]\n', "routes.0.direction.0", "'none'"),
    ('[[routes]]\nname = "r"\nalert_route = ["csm_cal"]\nchannels = ["x"]\n', "routes.0.alert_route",
     "'csm_cal' is not an alert route (one of billing, csm_call,"),
    ("[channels.x]\ntype = \"pager\"\n", "channels.x", "tag"),
])
def test_config_errors_name_file_key_and_why(toml: str, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(toml, source="notifier.toml")
    assert str(e.value).startswith("notifier.toml: ")
    assert e.value.file == "notifier.toml" and e.value.key == key and why in str(e.value)


def test_bad_toml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[notifier\n", source="f.toml")
