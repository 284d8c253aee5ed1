"""The commit watchdog and bookkeeping view (streams/worker/commits.py), on a plain object shaped
like Faust's consumer (its maps are plain dicts of the same types) and a hand-driven clock."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, NamedTuple

import pytest
from intervaltree import IntervalTree

from streams.worker.commits import CommitCollector, CommitWatch, bookkeeping, commit_awaits


class TP(NamedTuple):
    topic: str
    partition: int


EV = TP("events", 0)


class Consumer:
    def __init__(self) -> None:
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._commit_fut: Any = None
        self.commit_started: float | None = None
        self.tps = {EV}

    def assignment(self) -> set[TP]:
        return self.tps


def test_bookkeeping_reads_the_maps() -> None:
    c = Consumer()
    c._committed_offset[EV], c._read_offset[EV] = 100, 250
    c._acked[EV] = [240, 250, 245]
    c._gap[EV].addi(101, 240)
    c.commit_started = 10.0
    [row] = bookkeeping(c, now=12.5)
    assert row["tp"] == "events[0]" and row["assigned"]
    assert (row["committed"], row["read"], row["acked"], row["acked_min"], row["acked_max"]) == (100, 250, 3, 240, 250)
    assert row["gap_offsets"] == 139 and row["gaps"] == [(101, 240)]
    assert row["commit_pending"] and row["commit_pending_s"] == 2.5


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def _rows(c: Consumer) -> list[dict[str, Any]]:
    return bookkeeping(c, now=0.0)


def test_one_warning_per_stall_and_one_line_when_it_moves(caplog: pytest.LogCaptureFixture) -> None:
    c, clock = Consumer(), Clock()
    watch = CommitWatch(30.0, clock)
    c._committed_offset[EV], c._read_offset[EV] = 100, 500
    caplog.set_level(logging.WARNING, logger="pulse.commits")
    for t in range(0, 120, 1):  # committed stays at 100 for two minutes while 500 was delivered
        clock.t = float(t)
        watch.check(_rows(c))
    stalled = [r for r in caplog.records if "stalled" in r.getMessage()]
    assert len(stalled) == 1 and watch.warnings == 1
    assert "events[0]" in stalled[0].getMessage() and "'committed': 100" in stalled[0].getMessage()
    c._committed_offset[EV] = 501
    clock.t = 121.0
    watch.check(_rows(c))
    moving = [r for r in caplog.records if "moving again" in r.getMessage()]
    assert len(moving) == 1 and "after 121.0 s" in moving[0].getMessage()


def test_no_warning_when_nothing_waits_past_the_committed_offset(caplog: pytest.LogCaptureFixture) -> None:
    c, clock = Consumer(), Clock()
    watch = CommitWatch(5.0, clock)
    c._committed_offset[EV], c._read_offset[EV] = 500, 499  # everything delivered is committed: idle
    caplog.set_level(logging.WARNING, logger="pulse.commits")
    for t in range(60):
        clock.t = float(t)
        watch.check(_rows(c))
    assert watch.warnings == 0 and not caplog.records
    c._read_offset[EV] = 500  # a record arrives and its commit never comes
    for t in range(60, 70):
        clock.t = float(t)
        watch.check(_rows(c))
    assert watch.warnings == 1


def test_a_changelog_partition_is_not_watched(caplog: pytest.LogCaptureFixture) -> None:
    """A standby reads a table's changelog without ever committing it: no stall to report (a
    worker with a standby logged one for each changelog partition, 30 s after every rebalance)."""
    c, clock = Consumer(), Clock()
    log_tp = TP("worker-account-state-changelog", 0)
    c.tps = {EV, log_tp}
    c._read_offset[log_tp] = 64  # read by the standby, committed offset None for good
    c._committed_offset[EV], c._read_offset[EV] = 100, 500  # and a real stall beside it
    watch = CommitWatch(5.0, clock)
    caplog.set_level(logging.WARNING, logger="pulse.commits")
    for t in range(30):
        clock.t = float(t)
        watch.check(_rows(c), committing=lambda topic: topic == "events")
    assert watch.warnings == 1 and "events[0]" in caplog.records[0].getMessage()
    unfiltered = CommitWatch(5.0, clock)  # the filter is what keeps the changelog out
    for t in range(30, 60):
        clock.t = float(t)
        unfiltered.check(_rows(c))
    assert unfiltered.warnings == 2


def test_a_revoked_partition_starts_afresh() -> None:
    c, clock = Consumer(), Clock()
    watch = CommitWatch(5.0, clock)
    c._committed_offset[EV], c._read_offset[EV] = 100, 200
    watch.check(_rows(c))
    c.tps = set()  # revoked for a while
    clock.t = 50.0
    watch.check(_rows(c))
    c.tps = {EV}
    clock.t = 51.0
    watch.check(_rows(c))
    assert watch.warnings == 0  # 51 s since it was first seen, but only 0 s since it came back


def test_gauges() -> None:
    c = Consumer()
    c._committed_offset[EV], c._read_offset[EV] = 7, 9
    c._acked[EV] = [8, 9]
    got = {f.name: f.samples[0].value for f in CommitCollector(lambda: c).collect()}
    assert got == {"pulse_consumer_committed_offset": 7, "pulse_consumer_read_offset": 9,
                   "pulse_consumer_acked_uncommitted": 2, "pulse_consumer_gap_offsets": 0,
                   "pulse_consumer_commit_pending_seconds": 0}


def test_commit_awaits_follows_the_coroutine_chain() -> None:
    import asyncio

    async def inner(fut: asyncio.Future[None]) -> None:
        await fut

    async def outer(fut: asyncio.Future[None]) -> None:
        await inner(fut)

    async def main() -> list[str]:
        c = Consumer()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        c.commit_task = asyncio.create_task(outer(fut))  # type: ignore[attr-defined]
        c.commit_started = 1.0
        await asyncio.sleep(0)
        got = commit_awaits(c)
        fut.set_result(None)
        await c.commit_task  # type: ignore[attr-defined]
        return got

    got = asyncio.run(main())
    assert [g.split(" ")[-1] for g in got[:2]] == ["outer", "inner"], got
    assert got[-1].startswith("awaiting Future"), got  # the future itself (its iterator on 3.11)


def test_the_broker_committed_offset_is_watched_when_known(caplog: pytest.LogCaptureFixture) -> None:
    """Faust's own committed offset ran ahead (a refused commit recorded anyway) and everything read
    is below it; the broker's committed offset is where a restart resumes, and it stopped."""
    c, clock = Consumer(), Clock()
    watch = CommitWatch(30.0, clock)
    c._committed_offset[EV], c._read_offset[EV] = 208_000, 207_999
    caplog.set_level(logging.WARNING, logger="pulse.commits")
    for t in range(40):
        clock.t = float(t)
        watch.check(bookkeeping(c, now=clock.t, broker={"events[0]": 166_000}))
    assert watch.warnings == 1
    assert "committed offset 166000 unchanged" in caplog.records[0].getMessage()
