"""The consumer's commit bookkeeping, made visible: per partition what Faust's consumer knows about
its offsets, a watchdog that says when a partition's commits stop, and Prometheus gauges.

Faust commits a partition's offset from its own bookkeeping (faust/transport/consumer.py): the
read offset (the last record the drain loop delivered), the acked offsets not yet committed
(`_acked`), the gaps it will fold in once a later offset is acked (`_gap`, compacted topics and
our coalesced batches) and the offset it last committed (`_committed_offset`, the next offset to
read). One commit runs at a time (`_commit_fut`). `bookkeeping(consumer)` reads all of that,
without changing anything, for `GET /pulse/consumer` and `/metrics`.

`CommitWatch.check` (the worker runs it every second) logs ONE warning when a partition has
records delivered past its committed offset and that committed offset has not moved for
`stall_seconds`, with the partition's bookkeeping, and one line when it moves again. A partition
that was revoked and assigned again starts afresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("pulse.commits")


def _key(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


def bookkeeping(consumer: Any, now: float | None = None,
                broker: Mapping[str, int | None] | None = None) -> list[dict[str, Any]]:
    """One dict per partition the consumer knows about (assigned, or with offsets still in its maps).
    `broker`: the group's committed offsets as the broker has them ("topic[p]" -> offset), from the
    worker's lag monitor; Faust's own `committed` can be ahead of it (a commit the broker refused
    is still recorded by stock Faust, docs/chaos.md "The commit stall")."""
    now = time.monotonic() if now is None else now
    try:
        assigned = set(consumer.assignment())
    except Exception:  # the consumer thread is not running yet / being rebalanced
        assigned = set()
    committed, read = dict(consumer._committed_offset), dict(consumer._read_offset)
    acked, gaps = dict(consumer._acked), dict(consumer._gap)
    started = getattr(consumer, "commit_started", None)
    pending = started is not None or getattr(consumer, "_commit_fut", None) is not None
    handed = getattr(consumer, "handed_out", {})
    rows = []
    for tp in sorted(assigned | committed.keys() | read.keys() | acked.keys(), key=_key):
        a = list(acked.get(tp) or ())
        gap = gaps.get(tp)
        intervals = sorted((iv.begin, iv.end) for iv in gap) if gap else []
        rows.append({
            "tp": _key(tp), "topic": tp.topic, "partition": tp.partition, "assigned": tp in assigned,
            "committed": committed.get(tp), "broker_committed": (broker or {}).get(_key(tp)),
            "read": read.get(tp),
            "acked": len(a), "acked_min": min(a) if a else None, "acked_max": max(a) if a else None,
            "gap_offsets": sum(e - b for b, e in intervals), "gaps": intervals[:3],
            "handed_out": handed.get(tp),
            "commit_pending": pending,
            "commit_pending_s": None if started is None else round(now - started, 1),
        })
    return rows


def commit_awaits(consumer: Any) -> list[str]:
    """Where the running commit waits: its coroutine chain, outermost first, as `file:line function`
    (empty when no commit runs). `Task.get_stack` gives only the outermost frame of a suspended
    coroutine; this follows `cr_await` down to the future it waits on."""
    task = getattr(consumer, "commit_task", None)
    if task is None or getattr(consumer, "commit_started", None) is None:
        return []
    chain = coroutine_chain(task.get_coro())
    inner = getattr(consumer, "commit_inner", None)  # the bounded part (streams/worker/commitfix.py)
    if inner is not None and not inner.done():
        chain += coroutine_chain(inner.get_coro())
    return chain


def coroutine_chain(obj: Any) -> list[str]:
    """A suspended coroutine's await chain, outermost first, as `file:line function`."""
    out: list[str] = []
    for _ in range(64):
        frame = next((f for a in ("cr_frame", "gi_frame", "ag_frame") if (f := getattr(obj, a, None))), None)
        if frame is None:
            if obj is not None:
                out.append(f"awaiting {type(obj).__qualname__}")
            break
        out.append(f"{frame.f_code.co_filename.rsplit('site-packages/', 1)[-1]}:{frame.f_lineno} "
                   f"{frame.f_code.co_name}")
        obj = next((o for a in ("cr_await", "gi_yieldfrom", "ag_await") if (o := getattr(obj, a, None))),
                   None)
    return out


class CommitWatch:
    """Warn once per stall: records delivered past the committed offset, which has not moved for
    `stall_seconds`; say once when it moves again. The committed offset watched is the broker's
    when the lag monitor has it (what a restart would resume from), else Faust's."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds, self.clock = stall_seconds, clock
        self.last: dict[str, tuple[int | None, float]] = {}  # tp -> (committed, since)
        self.stalled: dict[str, float] = {}  # tp -> when the committed offset last moved
        self.warnings = 0

    def check(self, rows: list[dict[str, Any]], awaits: Callable[[], list[str]] = list,
              committing: Callable[[str], bool] = lambda topic: True) -> None:
        """`committing(topic)`: whether the group commits that topic's offsets (the worker passes
        Faust's `acks_enabled_for`; a table's changelog is read, by recovery and standbys, but
        never committed, so its committed offset never moves)."""
        now = self.clock()
        seen = set()
        for r in rows:
            if not r["assigned"] or not committing(r["topic"]):
                continue
            tp, read = r["tp"], r["read"]
            committed = r["broker_committed"] if r.get("broker_committed") is not None else r["committed"]
            seen.add(tp)
            prev = self.last.get(tp)
            if prev is None or prev[0] != committed:
                if tp in self.stalled:
                    log.warning("commits of %s moving again after %.1f s: committed %s, read %s",
                                tp, now - self.stalled.pop(tp), committed, read)
                self.last[tp] = (committed, now)
                continue
            behind = read is not None and (committed is None or read >= committed)
            if behind and tp not in self.stalled and now - prev[1] >= self.stall_seconds:
                self.stalled[tp] = prev[1]
                self.warnings += 1
                log.warning("commits of %s stalled: committed offset %s unchanged for %.1f s while "
                            "records up to %s were delivered; bookkeeping %s; running commit awaits %s",
                            tp, committed, now - prev[1], read, r, awaits() or "nothing")
            elif not behind:
                self.last[tp] = (committed, now)  # nothing delivered past it: not waiting on a commit
        for tp in set(self.last) - seen:  # revoked: a later assignment starts afresh
            self.last.pop(tp, None)
            self.stalled.pop(tp, None)


class CommitCollector(Collector):
    """`pulse_consumer_*` gauges of the bookkeeping, computed when `/metrics` is scraped."""

    GAUGES = (("committed_offset", "committed", "Faust's committed offset (the next offset to read)."),
              ("read_offset", "read", "Offset of the last record the drain loop delivered."),
              ("acked_uncommitted", "acked", "Acked offsets not yet committed."),
              ("gap_offsets", "gap_offsets", "Offsets in registered gaps (folded in once a later "
                                             "offset is acked)."),
              ("commit_pending_seconds", "commit_pending_s", "How long the running commit has run "
                                                            "(0: none running)."))

    def __init__(self, consumer: Callable[[], Any]) -> None:
        self.consumer = consumer

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(f"pulse_consumer_{n}", h, labels=["topic", "partition"])
                for n, _, h in self.GAUGES]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = [r for r in bookkeeping(self.consumer()) if r["assigned"]]
        except Exception:  # no consumer yet
            rows = []
        for name, field, help_ in self.GAUGES:
            g = GaugeMetricFamily(f"pulse_consumer_{name}", help_, labels=["topic", "partition"])
            for r in rows:
                v = r[field]
                g.add_metric([r["topic"], str(r["partition"])], float(v or 0))
            yield g


_collector: list[CommitCollector] = []


def broker_committed(monitor: Any) -> dict[str, int | None]:
    """The group's committed offsets from the lag monitor's latest poll ("topic[p]" -> offset)."""
    return {f"{r.topic}[{r.partition}]": r.committed for r in getattr(monitor, "latest", ())}


def install(app: Any, stall_seconds: float, monitor: Any = None) -> CommitWatch:
    """The watchdog as an app timer (every second) and the gauges on the worker's registry;
    `monitor`: the worker's LagMonitor (the broker's committed offsets)."""
    from streams.worker.metrics import REGISTRY

    watch = CommitWatch(stall_seconds)

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def commit_watch() -> None:
        watch.check(bookkeeping(app.consumer, broker=broker_committed(monitor)),
                    lambda: commit_awaits(app.consumer), app.topics.acks_enabled_for)

    if _collector:  # one collector per process (tests build several apps)
        _collector[0].consumer = lambda: app.consumer
    else:
        _collector.append(CommitCollector(lambda: app.consumer))
        REGISTRY.register(_collector[0])
    return watch
