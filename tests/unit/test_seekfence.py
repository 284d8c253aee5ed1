"""Pulse's seek fence (streams/worker/seekfence.py) and resume flow control
(streams/worker/flowcontrol.py): fail loudly when a Faust or mode upgrade changes the stock code
they are written against, and check their rules on small stand-ins for the consumer (the broker
cases are tests/integration/test_worker_transport.py's rebalance test)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.worker.flowcontrol import KeepCurrentFlowControl
from streams.worker.seekfence import DEPENDS_ON, SeekFence
from streams.worker.transport import TESTED_FAUST, FastConsumer

#: sha256 (first 16 hex) of the stock code in faust-streaming 0.15.3 / mode-streaming 0.7.1
STOCK_SHA = {
    "perform_seek": "0e8c130ff4b0afd8",
    "seek": "b86a9fe05f956b30",
    "_wait_next_records": "6218e1969a636b3f",
    "Recovery.on_recovery_completed": "6ef567acf072e46d",
    "FlowControlEvent.resume": "4dcdc1253fd0dcb4",
    "ThrowableQueue.clear": "d18f09e451acf62e",
}


def _sha(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def test_the_stock_code_the_fence_and_the_resume_are_written_against_is_installed() -> None:
    """A Faust or mode release that changes any of these fails here: read the new code against
    the two modules' docs (docs/faust.md sections 7 and 8), re-run the rebalance test in
    tests/integration/test_worker_transport.py, then update the hashes and TESTED_FAUST."""
    got = {n: _sha(getattr(faust_consumer.Consumer, n)) for n in DEPENDS_ON}
    got |= {"Recovery.on_recovery_completed": _sha(Recovery.on_recovery_completed),
            "FlowControlEvent.resume": _sha(FlowControlEvent.resume),
            "ThrowableQueue.clear": _sha(ThrowableQueue.clear)}
    assert got == STOCK_SHA, f"stock code changed (tested on faust-streaming {TESTED_FAUST})"
    # the order that makes the fence needed: stream partitions resumed, then seeked, then the
    # flow resumed (which clears the buffers)
    src = inspect.getsource(Recovery.on_recovery_completed)
    assert src.index("consumer.resume_partitions(") < src.index("consumer.perform_seek()") < src.index(
        "self.app.flow_control.resume()")
    assert "self.clear()" in inspect.getsource(FlowControlEvent.resume)
    assert "putter.cancel()" in inspect.getsource(ThrowableQueue.clear)
    # the stream skips an event of another generation without acking it (both iterators: the
    # Cython one is what runs when built)
    import faust.streams

    assert "message.generation_id != self.app.consumer_generation_id" in inspect.getsource(
        faust.streams.Stream._py_aiter)
    pyx = Path(faust.streams.__file__).parent / "_cython" / "streams.pyx"
    assert not pyx.exists() or "message.generation_id != self.app.consumer_generation_id" in pyx.read_text()


def test_fast_consumer_runs_the_fence_before_the_commit_fix_and_stock() -> None:
    from streams.worker.commitfix import OwedCommits

    mro = FastConsumer.__mro__
    assert mro.index(SeekFence) < mro.index(OwedCommits) < mro.index(faust_consumer.Consumer)
    for name in ("perform_seek", "_getmany"):
        assert getattr(FastConsumer, name) is not getattr(faust_consumer.Consumer, name)


EVENTS, CHANGELOG = TP("events", 0), TP("state-changelog", 0)


class _Stock:
    """The stock consumer as the fence sees it: a fetch that can be held open, a seek in two
    steps (the consumer thread's, then the read offsets), and `seek`."""

    def __init__(self) -> None:
        self.app = SimpleNamespace(topics=SimpleNamespace(acking_topics={"events"}))
        self.log = SimpleNamespace(warning=lambda *a: None, info=lambda *a: None)
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._read_offset: dict[TP, int | None] = {}
        self.fetch_open: asyncio.Event | None = None
        self.next_records: dict[TP, list[int]] = {}
        self.seeks: list[tuple[TP, int]] = []

    async def _getmany(self, active_partitions: Any, timeout: float) -> dict[TP, list[int]]:
        if self.fetch_open is not None:
            await self.fetch_open.wait()
        records, self.next_records = self.next_records, {}
        return records

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)  # the consumer thread's seek_to_committed
        self._committed_offset[EVENTS] = 260
        self._read_offset[EVENTS] = 260

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self._read_offset[tp] = offset or None

    def assignment(self) -> set[TP]:
        return {EVENTS, CHANGELOG}


class _Fenced(SeekFence, _Stock):
    pass


async def test_a_fetch_that_waited_across_a_seek_is_not_delivered_and_its_partition_is_seeked_back() -> None:
    c = _Fenced()
    c.fetch_open = asyncio.Event()
    c.next_records = {EVENTS: [261, 298], CHANGELOG: [7, 8]}
    fetch = asyncio.create_task(c._getmany({EVENTS, CHANGELOG}, 1.0))
    await asyncio.sleep(0)
    await c.perform_seek()  # runs while the fetch waits
    c.fetch_open.set()
    got = await fetch
    assert got == {CHANGELOG: [7, 8]}  # the changelog's records are recovery's: kept
    assert c.straddled_fetches == 1 and c.reseek_tps == {EVENTS}
    assert c.seeks == []  # not yet: the seek back happens before the next fetch
    c.fetch_open = None
    c.next_records = {EVENTS: [260, 261]}
    assert await c._getmany({EVENTS}, 1.0) == {EVENTS: [260, 261]}
    assert c.seeks == [(EVENTS, 260)] and c.reseeks == 1 and c.reseek_tps == set()
    assert not c.fenced(EVENTS)  # delivered with the epoch it was fetched in


async def test_a_fetch_during_no_seek_is_delivered_whole() -> None:
    c = _Fenced()
    c.next_records = {EVENTS: [1, 2], CHANGELOG: [3]}
    assert await c._getmany({EVENTS, CHANGELOG}, 1.0) == {EVENTS: [1, 2], CHANGELOG: [3]}
    assert c.straddled_fetches == 0 and not c.fenced(EVENTS) and c.dropped_after_seek == 0


async def test_a_seek_that_starts_while_a_batch_is_delivered_fences_the_rest_of_the_batch() -> None:
    c = _Fenced()
    c.next_records = {EVENTS: [1, 2]}
    await c._getmany({EVENTS}, 1.0)
    assert not c.fenced(EVENTS)  # the first message goes out
    seek = asyncio.create_task(c.perform_seek())
    await asyncio.sleep(0)  # the seek has started, not ended
    assert c.seeking == 1 and c.fenced(EVENTS)
    await seek
    assert c.seeking == 0 and c.fenced(EVENTS)  # ended: still a different epoch than the fetch's
    assert c.dropped_after_seek == 2 and c.reseek_tps == {EVENTS}
    c.reseek_tps.add(TP("events", 9))  # revoked meanwhile: not in the assignment, not seeked
    await c.reseek()
    assert c.seeks == [(EVENTS, 260)]


async def test_no_seek_back_while_a_seek_runs() -> None:
    c = _Fenced()
    c.reseek_tps.add(EVENTS)
    c.seeking = 1
    await c.reseek()
    assert c.seeks == [] and c.reseek_tps == {EVENTS}


def _event(generation: int, topic: str = "events") -> Any:
    return SimpleNamespace(message=SimpleNamespace(generation_id=generation, topic=topic))


def _app(generation: int) -> Any:
    return SimpleNamespace(consumer_generation_id=generation,
                           topics=SimpleNamespace(acking_topics={"events"}))


async def test_resume_keeps_the_current_generations_events_and_drops_what_stock_drops() -> None:
    app = _app(5)
    flow = KeepCurrentFlowControl(app)
    q: ThrowableQueue[Any] = ThrowableQueue(flow_control=flow, clear_on_resume=True)
    stale, current, current2 = _event(4), _event(5), _event(5)
    changelog, plain = _event(5, "state-changelog"), "a value"
    for x in (stale, current, changelog, plain, current2):
        q.put_nowait(x)
    flow.suspend()
    assert not flow.is_active()
    flow.resume()
    assert flow.is_active()
    assert [q.get_nowait() for _ in range(q.qsize())] == [current, current2]
    assert (flow.kept, flow.dropped) == (2, 3)
    # stock empties the buffer: the two current events would be lost
    stock = FlowControlEvent()
    q2: ThrowableQueue[Any] = ThrowableQueue(flow_control=stock, clear_on_resume=True)
    q2.put_nowait(current)
    stock.resume()
    assert q2.qsize() == 0


async def test_resume_lets_a_put_waiting_on_a_full_buffer_in_instead_of_cancelling_it() -> None:
    app = _app(5)
    flow = KeepCurrentFlowControl(app)
    q: ThrowableQueue[Any] = ThrowableQueue(maxsize=1, flow_control=flow, clear_on_resume=True)
    q.put_nowait(_event(4))  # stale: dropped by the resume, which makes room
    waiting = _event(5)
    put = asyncio.create_task(q.put(waiting))
    await asyncio.sleep(0)
    assert not put.done()
    flow.resume()
    await asyncio.wait_for(put, timeout=1)
    assert not put.cancelled() and q.get_nowait() is waiting


def test_the_worker_app_uses_the_keeping_flow_control_for_its_buffers(tmp_path: Any) -> None:
    from streams.worker.app import WorkerApp

    app = WorkerApp("seekfence-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    assert isinstance(app.flow_control, KeepCurrentFlowControl) and app.flow_control.app is app
    queue = app.FlowControlQueue(clear_on_resume=True)
    assert queue._flow_control is app.flow_control and queue in app.flow_control._queues
