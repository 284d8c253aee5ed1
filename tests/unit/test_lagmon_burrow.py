"""`lagmon.evaluate` against the 16 table-driven cases of Burrow's caching evaluator.

Each case below restates one of Burrow's evaluator test cases (linkedin/Burrow,
core/internal/evaluator/caching_test.go, cases 0..15) as data: the commits in the window
(offset, commit time in ms, lag or None), the partition's recent end offsets, the current lag,
`now` in seconds, the allowed lag, the outcome Burrow expects from each of its rules and the
partition status. The window is passed as full (size = its length), which is how Burrow's test
calls its rule function (it has no completeness gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streams.worker.lagmon import (
    PartitionStatus,
    Sample,
    evaluate,
    group_complete,
    group_level,
    group_summaries,
    lag_always_above,
    lag_not_decreasing,
    recent_lag_zero,
    rewind_index,
    rewind_recovered,
    stalled,
    stopped,
    worst,
)


@dataclass(frozen=True)
class Case:
    name: str
    commits: list[tuple[int, int, int | None]]  # offset, timestamp (ms), lag
    ends: list[int]
    current_lag: int
    now: int  # seconds
    allowed_lag: int
    always_above: bool  # isLagAlwaysNotZero
    rewind: int  # checkIfOffsetsRewind
    stopped: bool
    stalled: bool
    not_decreasing: bool
    recent_zero: bool
    status: str


def steady(lags: list[int | None], offsets: list[int] | None = None) -> list[tuple[int, int, int | None]]:
    """Commits 100 s apart starting at t=100 s, offsets 1000, 2000, ... unless given."""
    offs = offsets or [1000 * (i + 1) for i in range(len(lags))]
    return [(o, 100_000 * (i + 1), lag) for i, (o, lag) in enumerate(zip(offs, lags, strict=True))]


# Burrow's cases 9 and 10: 15 commits about a second apart, all caught up at the time
REAL = [(792748079 + i, ts, 0) for i, ts in enumerate(
    [1512224618356, 1512224619362, 1512224620366, 1512224621367, 1512224622370, 1512224623373,
     1512224624378, 1512224625379, 1512224626383, 1512224627383, 1512224628383, 1512224629388,
     1512224630391, 1512224631394, 1512224632397])]
REWOUND = [1000, 2000, 3000, 2000, 4000]

CASES = [
    Case("0 zero lag in the window is OK", steady([0, 50, 100, 150, 200]), [5200], 200, 600, 0,
         False, -1, False, False, True, False, "OK"),
    Case("1 time since last commit equal to the span is not STOP", steady([0, 50, 100, 150, 200]),
         [5200], 200, 900, 0, False, -1, False, False, True, False, "OK"),
    Case("2 STOP despite zero lag at the start", steady([0, 50, 100, 150, 200]), [5200], 200, 1000, 0,
         False, -1, True, False, True, False, "STOP"),
    Case("3 STOP with lag always non-zero", steady([50, 100, 150, 200, 250]), [5250], 250, 1000, 0,
         True, -1, True, False, True, False, "STOP"),
    Case("4 stalled offsets but zero lag in the window is OK", steady([0, 50, 100, 150, 200], [1000] * 5),
         [1200], 200, 600, 0, False, -1, False, True, True, False, "OK"),
    Case("5 stalled offsets with lag always non-zero is STALL",
         steady([100, 150, 200, 250, 300], [1000] * 5), [1300], 300, 600, 0,
         True, -1, False, True, True, False, "STALL"),
    Case("6 STALL with constant lag", steady([100] * 5, [1000] * 5), [1100], 100, 600, 0,
         True, -1, False, True, True, False, "STALL"),
    Case("7 recovered rewind is forgiven", steady([100, 150, 200, 1250, 300], REWOUND), [4300], 300, 600, 0,
         True, 3, False, False, False, False, "OK"),
    Case("8 current lag zero is OK although stopped", steady([50, 100, 150, 200, 250]), [5250], 0, 1000, 0,
         True, -1, True, False, True, False, "OK"),
    Case("9 STOP: lag zero in every commit but new data since",
         REAL, [792749024, 792749000, 792748800, 792748600, 792748500], 931, 1512224650, 0,
         False, -1, True, False, True, False, "STOP"),
    Case("10 recent lag zero exempts from STOP", REAL, [792748094, 792748093, 792748093, 792748093], 1,
         1512224650, 0, False, -1, True, False, True, True, "OK"),
    Case("11 case 0 with commits of unknown lag",
         [(1000 + 500 * i, 100_000 + 50_000 * i, None if i % 2 else 50 * (i // 2)) for i in range(10)],
         [5700], 200, 600, 0, False, -1, False, False, True, False, "OK"),
    Case("12 within the allowed lag is OK although stopped",
         [(1000, 100_000, 2), (2000, 200_000, 1), (2000, 300_000, 1)], [2001], 1, 550, 1,
         False, -1, True, False, False, False, "OK"),
    Case("13 case 5 with an allowed lag is still STALL",
         steady([100, 150, 200, 250, 300], [1000] * 5), [1300], 300, 600, 99,
         True, -1, False, True, True, False, "STALL"),
    Case("14 case 7 with an allowed lag is still OK", steady([100, 150, 200, 1250, 300], REWOUND), [4300],
         300, 600, 99, True, 3, False, False, False, False, "OK"),
    Case("15 rewind not caught up is REWIND",
         steady([100, 150, 200, 1250, 300], [1000, 2000, 3000, 2000, 2500]), [4300], 300, 600, 0,
         True, 3, False, False, False, False, "REWIND"),
]


def window(case: Case) -> list[Sample]:
    return [Sample(ts / 1000, offset, lag) for offset, ts, lag in case.commits]


def test_all_sixteen_cases_are_here() -> None:
    assert [c.name.split()[0] for c in CASES] == [str(i) for i in range(16)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rules_agree_with_burrow(case: Case) -> None:
    win = window(case)
    assert lag_always_above(win, case.allowed_lag) is case.always_above
    assert rewind_index(win) == case.rewind
    assert stopped(win, case.now) is case.stopped
    assert stalled(win) is case.stalled
    assert lag_not_decreasing(win) is case.not_decreasing
    assert recent_lag_zero(win, case.ends) is case.recent_zero


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_status_agrees_with_burrow(case: Case) -> None:
    win = window(case)
    got = evaluate(win, case.current_lag, case.now, size=len(win), ends=case.ends,
                   allowed_lag=case.allowed_lag)
    assert got == case.status


def test_rewind_recovered_needs_the_offset_before_the_rewind() -> None:
    win = [Sample(float(i), o, 5) for i, o in enumerate([10, 30, 20, 29])]
    assert not rewind_recovered(win, 2)
    assert rewind_recovered([*win, Sample(4.0, 30, 5)], 2)


def _row(group: str, status: str, complete: float, lag: int = 1) -> PartitionStatus:
    return PartitionStatus(group, "t", 0, 1, 1 + lag, lag, status, 1, complete)


def test_group_status_collapses_stop_stall_rewind_into_err() -> None:
    assert [group_level(s) for s in ("OK", "WARN", "STOP", "STALL", "REWIND")] == \
        ["OK", "WARN", "ERR", "ERR", "ERR"]
    assert worst([_row("g", "OK", 1), _row("g", "WARN", 1)]) == "WARN"
    assert worst([_row("g", "WARN", 1), _row("g", "REWIND", 1)]) == "ERR"
    assert worst([]) == "OK"


def test_group_complete_is_the_fraction_of_full_partitions() -> None:
    # Burrow's incomplete-group test: one partition, half its window -> group complete 0.0
    assert group_complete([_row("g", "STOP", 0.5)]) == 0.0
    assert group_complete([_row("g", "OK", 1.0), _row("g", "OK", 0.5), _row("g", "OK", 1.0),
                           _row("g", "OK", 0.2)]) == 0.5
    assert group_complete([]) == 0.0
    summary = group_summaries([_row("a", "OK", 1.0, 3), _row("a", "STALL", 0.5, 4), _row("b", "WARN", 1.0)])
    assert summary == {"a": {"status": "ERR", "complete": 0.5, "total_lag": 7, "partitions": 2},
                       "b": {"status": "WARN", "complete": 1.0, "total_lag": 1, "partitions": 1}}
