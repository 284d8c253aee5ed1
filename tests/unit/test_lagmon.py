"""Burrow's evaluation rules (`streams.worker.lagmon.evaluate`) and the window a monitor keeps."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.worker.lagmon import LagMonitor, PartitionStatus, Sample, evaluate, worst


def w(*rows: tuple[float, int, int]) -> list[Sample]:
    return [Sample(at, offset, lag) for at, offset, lag in rows]


def test_current_lag_zero_is_ok_whatever_the_window() -> None:
    window = w((0, 10, 5), (1, 10, 6), (2, 10, 7))
    assert evaluate(window, 0, now=1000, size=3) == "OK"


def test_progressing_consumer_with_shrinking_lag_is_ok() -> None:
    window = w((0, 100, 50), (1, 150, 40), (2, 200, 30))
    assert evaluate(window, 30, now=2, size=3) == "OK"


def test_lag_growing_over_the_whole_window_is_warn() -> None:
    window = w((0, 100, 50), (1, 150, 60), (2, 200, 60), (3, 250, 70))
    assert evaluate(window, 70, now=3, size=4) == "WARN"


def test_one_decrease_in_the_window_clears_warn() -> None:
    window = w((0, 100, 50), (1, 150, 40), (2, 200, 60), (3, 250, 70))
    assert evaluate(window, 70, now=3, size=4) == "OK"


def test_offset_not_moving_with_lag_is_stall() -> None:
    window = w((0, 100, 50), (1, 100, 60), (2, 100, 70))
    assert evaluate(window, 70, now=2, size=3) == "STALL"


def test_stall_and_warn_need_a_full_window() -> None:
    assert evaluate(w((0, 100, 50), (1, 100, 60)), 60, now=1, size=3) == "OK"
    assert evaluate(w((0, 100, 50), (1, 110, 60)), 60, now=1, size=3) == "OK"


def test_no_commit_for_longer_than_the_window_spans_is_stop() -> None:
    window = w((0, 100, 50), (10, 200, 40), (20, 300, 30))  # spans 20 s
    assert evaluate(window, 30, now=40, size=3) == "OK"  # 20 s since the last commit: not more
    assert evaluate(window, 30, now=40.5, size=3) == "STOP"
    assert evaluate(window, 0, now=400, size=3) == "OK"  # caught up: a quiet consumer is fine


def test_a_single_old_commit_with_lag_is_stop() -> None:
    assert evaluate(w((5, 100, 1)), 10, now=6, size=5) == "STOP"
    assert evaluate(w((5, 100, 1)), 10, now=5, size=5) == "OK"


def test_zero_lag_anywhere_in_the_window_is_ok() -> None:
    window = w((0, 100, 0), (1, 100, 5), (2, 100, 9))
    assert evaluate(window, 9, now=2, size=3) == "OK"


def test_offset_going_backwards_is_rewind_until_it_is_back() -> None:
    window = w((0, 100, 5), (1, 50, 60), (2, 60, 60))
    assert evaluate(window, 60, now=2, size=3) == "REWIND"
    # Burrow (since its PR #716) forgives a rewind once the consumer is past the old offset again
    assert evaluate(window + w((3, 100, 40)), 40, now=3, size=4) == "OK"


def test_stop_is_checked_before_rewind_as_in_burrow() -> None:
    window = w((0, 100, 5), (1, 50, 60))
    assert evaluate(window, 60, now=10, size=2) == "STOP"


def test_caught_up_in_the_recent_polls_is_not_stop() -> None:
    window = w((0, 100, 50), (10, 200, 40), (20, 300, 30))
    assert evaluate(window, 30, now=40.5, size=3, ends=[330, 300]) == "OK"  # end 300 <= commit 300
    assert evaluate(window, 30, now=40.5, size=3, ends=[330, 301]) == "STOP"


def test_lag_within_the_allowed_lag_is_never_an_error() -> None:
    window = w((0, 100, 50), (1, 100, 60), (2, 100, 70))
    assert evaluate(window, 70, now=2, size=3, allowed_lag=70) == "OK"
    assert evaluate(window, 71, now=2, size=3, allowed_lag=70) == "OK"  # lag <= 70 in the window
    assert evaluate(window, 71, now=2, size=3, allowed_lag=49) == "STALL"


samples = st.lists(st.tuples(st.floats(0, 100), st.integers(0, 1000), st.integers(0, 1000)),
                   min_size=1, max_size=12)


@given(samples, st.integers(-5, 1000), st.floats(0, 300), st.integers(2, 12))
def test_status_is_always_one_of_burrows(rows: list[tuple[float, int, int]], lag: int, dt: float,
                                         size: int) -> None:
    rows = sorted(rows)
    window = w(*rows)
    status = evaluate(window, lag, now=rows[-1][0] + dt, size=size)
    assert status in ("OK", "WARN", "STALL", "STOP", "REWIND")
    if lag <= 0:
        assert status == "OK"
    if status in ("STALL", "WARN"):
        assert len(window) >= size and all(s.lag > 0 for s in window)
    if status == "REWIND":
        assert any(b.offset < a.offset for a, b in pairwise(window))


@given(st.lists(st.integers(0, 50), min_size=1, max_size=30), st.integers(2, 8))
def test_monotonic_progress_with_caught_up_sample_is_never_an_error(steps: list[int], size: int) -> None:
    """A live consumer that commits every poll and is caught up at some point in the window."""
    offset, rows = 0, []
    for i, step in enumerate(steps):
        offset += step
        rows.append((float(i), offset, 0 if i == len(steps) - 1 else step))
    assert evaluate(w(*rows)[-size:], 3, now=float(len(steps) - 1), size=size) == "OK"


def _row(status: str) -> PartitionStatus:
    return PartitionStatus("g", "t", 0, 1, 2, 1, status, 1, 0.1)


def test_worst_orders_statuses() -> None:
    assert worst([]) == "OK"
    assert worst([_row("OK"), _row("WARN")]) == "WARN"
    assert worst([_row("STALL"), _row("STOP"), _row("WARN")]) == "ERR"  # Burrow's group status
    assert worst([_row("REWIND"), _row("OK")]) == "ERR"


def test_monitor_window_adds_commits_only_when_live_or_moved() -> None:
    m = LagMonitor("unused:1", {"g": ["t"]}, samples=3, interval=1.0)
    key = ("g", "t", 0)
    # live and caught up, then the consumer dies with lag growing: offset unchanged, not live
    assert m._observe(key, 10, 10, True, 0.0).status == "OK"
    # one commit, 1 s old, lag 5: not STOP while a recent poll saw it caught up (end 10 <= 10)
    assert [m._observe(key, 10, 15 + i, False, 1.0 + i).status for i in range(3)] == ["OK", "OK", "STOP"]
    assert len(m.windows[key]) == 1
    assert m._observe(key, 10, 20, False, 5.0).complete == pytest.approx(1 / 3)
    # live but stuck: every poll is a commit of the same offset -> a full window -> STALL
    m2 = LagMonitor("unused:1", {"g": ["t"]}, samples=3, interval=1.0)
    statuses = [m2._observe(key, 10, 10 + i, True, float(i)).status for i in range(1, 5)]
    assert statuses == ["OK", "OK", "STALL", "STALL"]
    assert len(m2.windows[key]) == 3  # the window slides
    # progressing: committed offset moves each poll, lag shrinking
    m3 = LagMonitor("unused:1", {"g": ["t"]}, samples=3, interval=1.0)
    got = [m3._observe(key, 100 * i, 100 * i + 50 - i, True, float(i)).status for i in range(1, 6)]
    assert got == ["OK"] * 5
