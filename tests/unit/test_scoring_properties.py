"""Property tests of the pure core against brute force and closed forms."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.calls import ScoredEvent
from scoring.engine import Scorer
from scoring.model import parse_model

DAY = 86_400_000_000
T0 = 1_790_000_000_000_000 // DAY * DAY  # a midnight UTC
WEIGHTS = {"A": 1.0, "B": 5.0, "C": -3.0, "D": 10.0, "E": 0.5}


def window_model(days: int = 7, bucket: int = 86400, h: float = 0.0):
    return parse_model(
        f"[score]\nmode='window'\nwindow_days={days}\nbucket_seconds={bucket}\nhysteresis={h}\n"
        "[weights]\n" + "\n".join(f'"{k}" = {v}' for k, v in WEIGHTS.items()))


def decay_model(half_life: float = 1.0):
    return parse_model(
        f"[score]\nmode='decay'\nhalf_life_days={half_life}\n"
        "[weights]\n" + "\n".join(f'"{k}" = {v}' for k, v in WEIGHTS.items()))


events_st = st.lists(
    st.tuples(st.sampled_from(sorted(WEIGHTS)), st.integers(0, 40 * 24 * 3600)), min_size=1, max_size=60)


@given(events_st)
@settings(max_examples=200, deadline=None)
def test_window_score_equals_brute_force_sum(evs: list[tuple[str, int]]) -> None:
    model = window_model(days=7, bucket=3600)
    w_buckets = 7 * 24
    scorer = Scorer(model, sweep_seconds=10**9)  # no sweep inside the range
    accepted: list[tuple[str, int]] = []
    clock = None
    for name, sec in evs:
        ts = T0 + sec * 1_000_000
        out = scorer.handle(ScoredEvent("acct", name, ts))
        # brute force: late iff bucket(ts) <= bucket(clock) - W
        late = clock is not None and ts // 3_600_000_000 <= clock // 3_600_000_000 - w_buckets
        assert out.status == ("late" if late else "accepted")
        if not late:
            accepted.append((name, ts))
            clock = ts if clock is None else max(clock, ts)
    assert clock is not None
    cut = clock // 3_600_000_000 - w_buckets
    brute = sum(WEIGHTS[n] for n, t in accepted if t // 3_600_000_000 > cut)
    [(_, score, _)] = scorer.scores()
    assert score == brute


@given(events_st, st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_reordering_inside_the_window_gives_the_same_score(evs, rnd) -> None:
    # all events within 6 days of each other: none can be late in a 7-day window
    evs = [(n, s % (6 * 24 * 3600)) for n, s in evs]
    shuffled = list(evs)
    rnd.shuffle(shuffled)
    for model in (window_model(days=7), decay_model(half_life=2.0)):
        finals = []
        for order in (evs, shuffled):
            scorer = Scorer(model, sweep_seconds=10**9)
            for name, sec in order:
                assert scorer.handle(ScoredEvent("a", name, T0 + sec * 1_000_000)).status == "accepted"
            finals.append(scorer.scores()[0][1])
        assert math.isclose(finals[0], finals[1], rel_tol=1e-9, abs_tol=1e-9)


@given(events_st, st.floats(0.25, 30))
@settings(max_examples=200, deadline=None)
def test_decay_score_equals_closed_form(evs, half_life) -> None:
    model = decay_model(half_life)
    scorer = Scorer(model, sweep_seconds=10**9)
    for name, sec in evs:
        scorer.handle(ScoredEvent("a", name, T0 + sec * 1_000_000))
    clock = max(T0 + s * 1_000_000 for _, s in evs)
    h_us = half_life * DAY
    closed = sum(WEIGHTS[n] * 2 ** (-(clock - (T0 + s * 1_000_000)) / h_us) for n, s in evs)
    [(_, score, _)] = scorer.scores()
    assert math.isclose(score, closed, rel_tol=1e-9, abs_tol=1e-9 * sum(abs(WEIGHTS[n]) for n, _ in evs))


@given(st.lists(st.tuples(st.sampled_from(["m1", "m2", "m3", None]), st.integers(0, 90)), max_size=40))
@settings(max_examples=200, deadline=None)
def test_dedup_memory_is_bounded_and_exact(evs) -> None:
    """A messageId is a duplicate iff its pair was recorded and the account clock has not moved
    more than window_days past the clock recorded with it (brute force over the history)."""
    model = window_model(days=7)
    window = 7 * DAY
    scorer = Scorer(model, sweep_seconds=10**9)
    pairs: dict[str, int] = {}
    clock = None
    for mid, day in sorted(evs, key=lambda e: e[1]):  # in order: nothing is late
        ts = T0 + day * DAY
        if clock is not None and mid is not None and mid in pairs and clock - pairs[mid] > window:
            del pairs[mid]
        expect_dup = mid is not None and mid in pairs
        out = scorer.handle(ScoredEvent("a", "A", ts, mid))
        assert out.status == ("duplicate" if expect_dup else "accepted")
        if not expect_dup:
            clock = ts if clock is None else max(clock, ts)
            if mid is not None:
                pairs[mid] = clock
    acct = scorer.accounts.get("a")
    if acct is not None:
        assert len(acct.seen) <= 6  # two generations of at most the 3 distinct ids
        assert clock is not None
        live = sorted(m for m, rec in pairs.items() if clock - rec <= window)
        assert sorted(m for m, _ in scorer.dump_account("a")[5]) == live  # persisted: live ids only
