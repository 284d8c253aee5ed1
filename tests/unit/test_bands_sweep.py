"""Bands, hysteresis, the sweep and the model file: hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.bands import AT_RISK, GREEN, RED, THRIVING, YELLOW, Edges, base_band, next_band
from scoring.calls import ScoredEvent
from scoring.engine import Scorer
from scoring.errors import ModelError
from scoring.model import BandsConfig, load_model, parse_model

B = Edges.of(BandsConfig())
DAY = 86_400_000_000
T0 = 20_000 * DAY  # 2024-10-04T00:00:00Z, a midnight


@pytest.mark.parametrize(("s", "band"), [
    (-0.5, AT_RISK), (0, RED), (40, RED), (40.01, YELLOW), (70, YELLOW), (70.5, GREEN),
    (100, GREEN), (100.01, THRIVING)])
def test_base_bands_follow_the_seed_table(s: float, band: int) -> None:
    assert base_band(s, B) == band


def test_hysteresis_holds_then_releases() -> None:
    h = 5.0
    assert next_band(None, 42, B, h) == YELLOW  # first evaluation: no hysteresis
    assert next_band(RED, 42, B, h) == RED  # 42 - 5 = 37 is still red: hold
    assert next_band(RED, 45.5, B, h) == YELLOW  # 45.5 - 5 = 40.5 is yellow: release
    assert next_band(YELLOW, 38, B, h) == YELLOW  # 38 + 5 = 43 is yellow: hold
    assert next_band(YELLOW, 35, B, h) == RED  # 35 + 5 = 40 is red: release
    assert next_band(RED, 105, B, h) == THRIVING  # jumps straight to base(s)
    assert next_band(GREEN, -1, B, h) == AT_RISK


def model(text: str):
    return parse_model("[weights]\n'A' = 30\n'B' = 50\n" + text)


def ev(account: str, name: str, ts: int, mid: str | None = None) -> ScoredEvent:
    return ScoredEvent(account, name, ts, mid)


def test_sweep_decays_a_silent_account_into_red() -> None:
    # window 3 days; x gets 50 (yellow) on day 0; y keeps the stream clock moving.
    s = Scorer(model("[score]\nwindow_days = 3\n"))
    first = s.handle(ev("x", "B", T0 + 3600 * 10**6))
    assert [(c.from_band, c.to_band) for c in first.changes] == [(None, "yellow")]
    s.handle(ev("y", "A", T0 + DAY + 1))
    s.handle(ev("y", "A", T0 + 2 * DAY + 1))
    # day 3 00:00 is the first sweep point at which x's day-0 bucket leaves the window
    out = s.handle(ev("y", "A", T0 + 3 * DAY + 5))
    sweep = [c for c in out.changes if c.cause == "sweep"]
    assert [(c.account, c.from_band, c.to_band, c.score, c.at_us) for c in sweep] == [
        ("x", "yellow", "red", 0.0, T0 + 3 * DAY)]


def test_sweep_points_are_strictly_after_the_first_event_and_in_account_order() -> None:
    s = Scorer(model("[score]\nwindow_days = 1\n"))
    s.handle(ev("b", "B", T0))  # exactly midnight: T0 itself is not a sweep point
    s.handle(ev("a", "B", T0 + 1))
    out = s.handle(ev("c", "A", T0 + DAY))  # reaches T0 + DAY: both expire there
    assert [(c.account, c.cause, c.at_us) for c in out.changes] == [
        ("a", "sweep", T0 + DAY), ("b", "sweep", T0 + DAY), ("c", "event", T0 + DAY)]


def test_late_and_duplicate_events_use_the_swept_clock() -> None:
    s = Scorer(model("[score]\nwindow_days = 2\n"))
    s.handle(ev("x", "A", T0 + 10, "m1"))
    s.handle(ev("y", "A", T0 + 3 * DAY))  # sweeps x to T0+DAY, T0+2DAY, T0+3DAY
    # x's clock is now T0 + 3 days: an event from day 1 is late (bucket 1 <= 3 - 2)
    assert s.handle(ev("x", "A", T0 + DAY + 5, "m2")).status == "late"
    assert s.handle(ev("x", "A", T0 + DAY + 5, "m2")).status == "duplicate"  # late ones are remembered
    assert s.handle(ev("x", "A", T0 + 2 * DAY + 5)).status == "accepted"  # bucket 2 > 1: in the window
    assert s.counts == {"accepted": 3, "duplicate": 1, "late": 1}


def test_finish_advances_every_account_to_the_stream_clock() -> None:
    s = Scorer(model("[score]\nmode = 'decay'\nhalf_life_days = 1\n"), sweep_seconds=10**9)
    s.handle(ev("x", "B", T0))
    s.handle(ev("y", "A", T0 + 2 * DAY))
    [end] = s.finish()  # x: 50 * 2^-2 = 12.5 -> red
    assert (end.account, end.from_band, end.to_band, end.score, end.cause) == ("x", "yellow", "red", 12.5, "end")
    assert [(a, sc, b) for a, sc, b in s.scores()] == [("x", 12.5, "red"), ("y", 30.0, "red")]


def test_state_round_trips_through_dump_and_load() -> None:
    m = model("[score]\nwindow_days = 2\nhysteresis = 5\n")
    a, b = Scorer(m), Scorer(m)
    events = [ev("x", "B", T0 + i * DAY // 3, f"m{i % 4}") for i in range(12)]
    for e in events[:6]:
        a.handle(e)
    b.load(a.dump_meta(), {k: a.dump_account(k) for k in a.accounts})
    for e in events[6:]:
        assert a.handle(e) == b.handle(e)
    assert a.scores() == b.scores()


@pytest.mark.parametrize(("text", "needle"), [
    ("[score]\nmode = 'sliding'\n", "[score.mode]"),
    ("[score]\nwindow_dayz = 3\n", "[score.window_dayz] unknown key"),
    ("[bands]\nred_max = 80.0\n", "red_max < yellow_max"),
    ("[weights]\nLogin = 'one'\n", "[weights.Login]"),
    ("[score\n", "not valid TOML"),
])
def test_bad_model_files_name_the_file_and_the_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "model.toml"
    p.write_text(text)
    with pytest.raises(ModelError) as info:
        load_model(p)
    assert str(p) in str(info.value) and needle in str(info.value)


def test_the_packaged_default_model_loads() -> None:
    m = load_model(None)
    assert m.score.mode == "window" and m.weights["Teammate Invited"] == 10
