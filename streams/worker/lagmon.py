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

The rules (linkedin/Burrow wiki "Consumer Lag Evaluation Rules", in Burrow's order):

1. the current lag is 0                                  -> OK (never an error)
2. now - newest commit > newest commit - oldest commit   -> STOP   (the consumer stopped committing)
3. any lag in the window is 0                            -> OK     (it caught up within the window)
4. the committed offset went backwards in the window     -> ERR    (rewind)
5. full window, committed offset never changed           -> STALL  (alive, not progressing)
6. full window, lag never decreased between samples      -> WARN   (falling behind)
7. otherwise                                             -> OK

Negative lags (the end offset read before the commit) count as 0, as in Burrow. Rules 5 and 6
need a full window (Burrow's "complete" partitions), so a consumer seen for one poll is not
called stalled.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger("pulse.lag")

STATUSES = ("OK", "WARN", "STALL", "STOP", "ERR")
LIVE_STATES = frozenset({"Stable"})


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # when the commit was observed (seconds, wall clock)
    offset: int  # the committed offset
    lag: int  # end offset - committed offset at that time, >= 0


def evaluate(window: Sequence[Sample], current_lag: int, now: float, size: int) -> str:
    """Burrow's status of one partition: its window of commits (oldest first), lag now."""
    if current_lag <= 0 or not window:
        return "OK"
    first, last = window[0], window[-1]
    if now - last.at > last.at - first.at:
        return "STOP"
    if any(s.lag == 0 for s in window):
        return "OK"
    pairs = list(pairwise(window))
    if any(b.offset < a.offset for a, b in pairs):
        return "ERR"
    if len(window) >= size >= 2:
        if all(b.offset == a.offset for a, b in pairs):
            return "STALL"
        if all(b.lag >= a.lag for a, b in pairs):
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
    complete: bool  # the window is full

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
                 prefix: str = "", samples: int = 10, interval: float = 5.0) -> None:
        self.bootstrap, self.groups, self.prefix = bootstrap, groups, prefix
        self.size, self.interval = samples, interval
        self.windows: dict[Key, deque[Sample]] = {}
        self.latest: list[PartitionStatus] = []
        self.polled_at: float | None = None
        self.error: str | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        try:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await self._consumer.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def __aenter__(self) -> LagMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _group_names(self) -> dict[str, list[str]]:
        if self.groups is not None:
            return self.groups
        assert self._admin is not None
        listed = await self._admin.list_consumer_groups()
        return {g: [] for g, _ in sorted(listed) if g.startswith(self.prefix)}

    async def _live(self, group: str) -> bool:
        assert self._admin is not None
        described = await self._admin.describe_consumer_groups([group])
        for resp in described:
            for g in resp.to_object()["groups"]:
                if g["group"] == group and g["state"] in LIVE_STATES and g["members"]:
                    return True
        return False

    async def poll(self, now: float | None = None) -> list[PartitionStatus]:
        """One round: read offsets, extend the windows, evaluate every partition."""
        assert self._admin is not None and self._consumer is not None, "call start() first"
        rows: list[PartitionStatus] = []
        for group, wanted in (await self._group_names()).items():
            committed = await self._admin.list_consumer_group_offsets(group)
            topics = wanted or sorted({tp.topic for tp in committed})
            if not topics:
                continue
            meta = await self._admin.describe_topics(topics)
            tps = sorted(TopicPartition(t["topic"], p["partition"])
                         for t in meta if not t.get("error_code") for p in t.get("partitions", []))
            ends = await self._consumer.end_offsets(tps) if tps else {}
            live = await self._live(group)
            at = time.time() if now is None else now
            for tp in tps:
                meta_offset = committed.get(tp)
                offset = meta_offset.offset if meta_offset is not None and meta_offset.offset >= 0 else None
                rows.append(self._observe((group, tp.topic, tp.partition), offset, ends[tp], live, at))
        self.latest, self.polled_at, self.error = rows, time.time() if now is None else now, None
        return rows

    def _observe(self, key: Key, offset: int | None, end: int, live: bool, at: float) -> PartitionStatus:
        lag = max(0, end - (offset or 0))
        window = self.windows.setdefault(key, deque(maxlen=self.size))
        if offset is not None and (live or not window or window[-1].offset != offset):
            window.append(Sample(at, offset, lag))
        status = evaluate(window, lag, at, self.size)
        return PartitionStatus(*key, committed=offset, end=end, lag=lag, status=status,
                               samples=len(window), complete=len(window) >= self.size)

    def snapshot(self) -> dict[str, Any]:
        """The latest evaluation as JSON-able data (what `/lag` and `pulse lag --json` print)."""
        return {"polled_at": self.polled_at, "interval": self.interval, "samples": self.size,
                "error": self.error, "partitions": [r.to_dict() for r in self.latest]}


def worst(rows: Sequence[PartitionStatus]) -> str:
    """The group-level status: the worst partition status (ERR > STOP > STALL > WARN > OK)."""
    order = {"OK": 0, "WARN": 1, "STALL": 2, "STOP": 3, "ERR": 4}
    return max((r.status for r in rows), key=order.__getitem__, default="OK")
