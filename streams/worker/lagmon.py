"""Consumer lag with Burrow's evaluation rules, from the broker's committed and end offsets.

Not from Faust's sensor (faust #214): a `LagMonitor` polls the broker every `interval` seconds
(committed offsets of a consumer group, end offsets of its topics, the group's state) and keeps,
per (group, topic, partition), a sliding window of the last `samples` commits it observed:
`Sample(at, offset, lag)`. `evaluate()` is the pure rule over one window, with `now` passed in.

What counts as a commit. Burrow reads every commit from `__consumer_offsets`, with its
timestamp; the admin API only gives the latest committed offset. So a poll adds a sample when
the committed offset moved, or when the group has live members (state `Stable`): a live
consumer commits on its own interval, and one that is alive but stuck commits the same offset
(-> STALL). A group with no members adds nothing, so its last commit ages (-> STOP).

The rules (Burrow's caching evaluator, `calculatePartitionStatus`, in its order since Burrow
PR #716; `allowed_lag` is Burrow's `allowed-lag`, 0 by default):

1. current lag <= allowed_lag                            -> OK (never an error)
2. now - newest commit > newest commit - oldest commit,
   unless a recent end offset was <= the newest commit   -> STOP   (stopped committing; the
   (the consumer was caught up within the last polls)               recent-lag-zero exemption)
3. the committed offset went backwards and has not come
   back to the offset before the rewind                  -> REWIND (a recovered rewind is forgiven)
4. if every known lag in the window is > allowed_lag:
   a. the committed offset never changed                 -> STALL  (alive, not progressing)
   b. the lag never decreased between samples            -> WARN   (falling behind)
5. otherwise                                             -> OK

Negative lags (the end offset read before the commit) count as 0, as in Burrow. A sample's lag
may be unknown (None); the lag rules skip it, as Burrow skips commits without a lag. `complete`
is the fraction of the window filled (Burrow's per-partition `complete`); a group's `complete`
is the fraction of its partitions with a full window. One deliberate difference from Burrow:
rules 4a/4b need a full window (Burrow gates every rule on `minimum-complete` instead), so a
consumer seen for one poll is not called stalled, while a dead consumer, whose window never
fills, is still STOP. docs/operations.md ("Lag rules") lists the differences.

Group status (Burrow's `evaluateConsumerStatus`): the worst partition status, with STOP, STALL
and REWIND collapsed into ERR; so a group is OK, WARN or ERR.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from streams.kafka import OffsetReader

log = logging.getLogger("pulse.lag")

STATUSES = ("OK", "WARN", "STOP", "STALL", "REWIND")  # partition statuses, Burrow's order
GROUP_STATUSES = ("OK", "WARN", "ERR")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # when the commit was observed (seconds, wall clock)
    offset: int  # the committed offset
    lag: int | None  # end offset - committed offset at that time, >= 0; None: not known


def lag_always_above(window: Sequence[Sample], allowed_lag: int = 0) -> bool:
    """Burrow's rule 1 (`isLagAlwaysNotZero`): no known lag in the window is <= allowed_lag."""
    return all(s.lag is None or s.lag > allowed_lag for s in window)


def rewind_index(window: Sequence[Sample]) -> int:
    """Index of the first commit below its predecessor (`checkIfOffsetsRewind`), -1 if none."""
    for i in range(1, len(window)):
        if window[i].offset < window[i - 1].offset:
            return i
    return -1


def rewind_recovered(window: Sequence[Sample], index: int) -> bool:
    """A commit at or after `index` is back at the offset committed before the rewind."""
    before = window[index - 1].offset
    return any(s.offset >= before for s in window[index:])


def stopped(window: Sequence[Sample], now: float) -> bool:
    """Longer since the newest commit than the window spans (`checkIfOffsetsStopped`)."""
    first, last = window[0].at, window[-1].at
    return now - last > last - first


def stalled(window: Sequence[Sample]) -> bool:
    """The committed offset never changed in the window (`checkIfOffsetsStalled`)."""
    return all(b.offset == a.offset for a, b in pairwise(window))


def lag_not_decreasing(window: Sequence[Sample]) -> bool:
    """No known lag is below the known lag before it (`checkIfLagNotDecreasing`)."""
    known = [s.lag for s in window if s.lag is not None]
    return all(b >= a for a, b in pairwise(known))


def recent_lag_zero(window: Sequence[Sample], ends: Sequence[int]) -> bool:
    """A recent end offset was <= the newest commit: caught up lately (`checkIfRecentLagZero`)."""
    last = window[-1].offset
    return any(end <= last for end in ends)


def evaluate(window: Sequence[Sample], current_lag: int, now: float, size: int, *,
             ends: Sequence[int] = (), allowed_lag: int = 0) -> str:
    """Burrow's status of one partition.

    `window`: its commits, oldest first; `current_lag`: the lag now; `size`: the window's
    capacity; `ends`: the partition's end offsets seen by the last polls (for the
    recent-lag-zero exemption); `allowed_lag`: lag up to which a partition is never in error.
    """
    if current_lag <= allowed_lag or not window:
        return "OK"
    if stopped(window, now) and not recent_lag_zero(window, ends):
        return "STOP"
    rewound = rewind_index(window)
    if rewound > 0 and not rewind_recovered(window, rewound):
        return "REWIND"
    if len(window) >= size and lag_always_above(window, allowed_lag):
        if stalled(window):
            return "STALL"
        if lag_not_decreasing(window):
            return "WARN"
    return "OK"


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    status: str
    samples: int  # commits in the window
    complete: float  # the fraction of the window filled (1.0: full)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Key = tuple[str, str, int]


class LagMonitor:
    """Polls the broker and keeps a window of commits per (group, topic, partition).

    `groups` maps a group to its topics; an empty topic list means "the topics the group has
    committed offsets for"; `groups=None` means every consumer group whose name starts with
    `prefix`.
    """

    def __init__(self, bootstrap: str, groups: dict[str, list[str]] | None = None, *,
                 prefix: str = "", samples: int = 10, interval: float = 5.0,
                 allowed_lag: int = 0) -> None:
        self.bootstrap, self.groups, self.prefix = bootstrap, groups, prefix
        self.size, self.interval, self.allowed_lag = samples, interval, allowed_lag
        self.windows: dict[Key, deque[Sample]] = {}
        self.ends: dict[Key, deque[int]] = {}  # end offsets of the last `samples` polls
        self.latest: list[PartitionStatus] = []
        self.polled_at: float | None = None
        self.error: str | None = None
        self._reader = OffsetReader(bootstrap)

    async def start(self) -> None:
        await self._reader.start()

    async def stop(self) -> None:
        await self._reader.stop()

    async def __aenter__(self) -> LagMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _group_names(self) -> dict[str, list[str]]:
        if self.groups is not None:
            return self.groups
        return {g: [] for g in await self._reader.groups(self.prefix)}

    async def poll(self, now: float | None = None) -> list[PartitionStatus]:
        """One round: read offsets (`streams.kafka.OffsetReader`, the one poll path), extend the
        windows, evaluate every partition."""
        rows: list[PartitionStatus] = []
        for group, wanted in (await self._group_names()).items():
            lags = await self._reader.lag(group, wanted)
            if not lags:
                continue
            live = await self._reader.live(group)
            at = time.time() if now is None else now
            for x in lags:
                rows.append(self._observe((group, x.topic, x.partition), x.committed, x.end, live, at))
        self.latest, self.polled_at, self.error = rows, time.time() if now is None else now, None
        return rows

    def _observe(self, key: Key, offset: int | None, end: int, live: bool, at: float) -> PartitionStatus:
        lag = max(0, end - (offset or 0))
        window = self.windows.setdefault(key, deque(maxlen=self.size))
        if offset is not None and (live or not window or window[-1].offset != offset):
            window.append(Sample(at, offset, lag))
        ends = self.ends.setdefault(key, deque(maxlen=self.size))
        ends.append(end)
        status = evaluate(window, lag, at, self.size, ends=ends, allowed_lag=self.allowed_lag)
        return PartitionStatus(*key, committed=offset, end=end, lag=lag, status=status,
                               samples=len(window), complete=min(1.0, len(window) / self.size))

    def snapshot(self) -> dict[str, Any]:
        """The latest evaluation as JSON-able data (what `/lag` and `pulse lag --json` print)."""
        return {"polled_at": self.polled_at, "interval": self.interval, "samples": self.size,
                "allowed_lag": self.allowed_lag, "error": self.error,
                "groups": group_summaries(self.latest),
                "partitions": [r.to_dict() for r in self.latest]}


_SEVERITY = {"OK": 0, "WARN": 1, "ERR": 2}


def worst(rows: Sequence[PartitionStatus]) -> str:
    """The group status (Burrow's): the worst partition status, STOP/STALL/REWIND counted as
    ERR, so OK < WARN < ERR."""
    return max((group_level(r.status) for r in rows), key=_SEVERITY.__getitem__, default="OK")


def group_level(status: str) -> str:
    """A partition status as it counts for its group: STOP, STALL and REWIND are ERR."""
    return status if status in ("OK", "WARN") else "ERR"


def group_complete(rows: Sequence[PartitionStatus]) -> float:
    """Burrow's group `complete`: the fraction of partitions with a full window (0 for none)."""
    return sum(1 for r in rows if r.complete >= 1.0) / len(rows) if rows else 0.0


def group_summaries(rows: Sequence[PartitionStatus]) -> dict[str, dict[str, Any]]:
    """Per group: status, complete, total lag and partition count."""
    by: dict[str, list[PartitionStatus]] = {}
    for r in rows:
        by.setdefault(r.group, []).append(r)
    return {g: {"status": worst(rs), "complete": group_complete(rs),
                "total_lag": sum(r.lag for r in rs), "partitions": len(rs)} for g, rs in by.items()}
