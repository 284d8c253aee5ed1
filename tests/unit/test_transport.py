"""The worker's Faust transport (streams/worker/transport.py): fails loudly when a Faust upgrade
changes what it replaces, and checks the stepping delivery against asyncio's own semantics."""

from __future__ import annotations

import asyncio
import inspect
import re

import faust
import pytest
from faust.transport import by_url
from faust.transport import consumer as faust_consumer
from faust.transport.base import Transport as BaseTransport
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.worker import transport
from streams.worker.transport import FastConsumer, _Resume

#: the marked statements of FastConsumer._drain_messages -> the stock statements they replace
STOCK = {
    "the delivery": "await self.wait_first(callback(message), self.suspend_flow.wait())",
    "the gap test": "if gap > 1 and r_offset:",
    "the read epoch": "r_offset = get_read_offset(tp)",
    "the read offset": "set_read_offset(tp, offset)",
}


def _body(src: str) -> str:
    """The statements of a method: no def line, comments or whitespace."""
    src = src.split("\n", 1)[1]
    return re.sub(r"\s+", "", re.sub(r"#[^\n]*", "", src))


def test_the_installed_faust_drain_loop_is_the_one_replaced() -> None:
    """Our loop with its marked delivery put back to stock's statement must be the installed
    stock loop, statement for statement. A Faust upgrade that changes the loop fails here: read
    the new loop, carry the change over, and add the version to TESTED_FAUST."""
    stock = inspect.getsource(faust_consumer.Consumer._drain_messages)
    ours = inspect.getsource(FastConsumer._drain_messages)
    marked = re.compile(r"# -- Pulse: (the [a-z]+(?: [a-z]+)*).*?# -- end Pulse --", re.S)
    assert sorted(marked.findall(ours)) == sorted(STOCK)
    restored = marked.sub(lambda m: STOCK[m.group(1)], ours)
    assert _body(restored) == _body(stock), (
        f"faust-streaming {faust.__version__}: Consumer._drain_messages is not the loop "
        f"streams/worker/transport.py replaces (tested on {transport.TESTED_FAUST})")
    assert list(inspect.signature(faust_consumer.Consumer._drain_messages).parameters) == ["self", "fetcher"]
    assert _body(ours) != _body(stock)  # and ours does differ: the marked statements


def test_faust_still_runs_the_consumer_class_of_the_transport_and_its_drain_loop() -> None:
    assert "self.Consumer(" in inspect.getsource(BaseTransport.create_consumer)
    assert "consumer._drain_messages(self)" in inspect.getsource(faust_consumer.Fetcher._fetcher.fun)
    assert issubclass(FastConsumer, faust_aiokafka.Consumer)
    assert faust.__version__ in transport.TESTED_FAUST or pytest.fail(
        f"faust-streaming {faust.__version__} is not in TESTED_FAUST {transport.TESTED_FAUST}: "
        "run tests/integration/test_worker_transport.py, then add it")


def test_the_pulse_scheme_resolves_to_the_fast_transport() -> None:
    transport.register()
    cls = by_url(f"{transport.SCHEME}://127.0.0.1:9092")
    assert cls is transport.Transport
    assert cls.Consumer is FastConsumer
    assert by_url("kafka://127.0.0.1:9092") is faust_aiokafka.Transport  # stock untouched


async def _deliver(coro, suspend: asyncio.Event):  # type: ignore[no-untyped-def]
    """The delivery step of FastConsumer._drain_messages, on its own."""
    try:
        first = coro.send(None)
    except StopIteration as stop:
        return "fast", stop.value
    loop = asyncio.get_running_loop()
    work = loop.create_task(_run(_Resume(coro, first)))
    halt = loop.create_task(suspend.wait())
    done, _ = await asyncio.wait({work, halt}, return_when=asyncio.FIRST_COMPLETED)
    for f in (work, halt):
        if not f.done():
            f.cancel()
    return "suspended", work.result() if work in done else None


async def _run(aw):  # type: ignore[no-untyped-def]
    return await aw


async def test_a_callback_that_does_not_wait_finishes_in_one_step() -> None:
    seen = []

    async def callback() -> int:
        lock = asyncio.Lock()
        async with lock:  # an uncontended lock, as in the conductor: no suspension
            seen.append(1)
        return 7

    assert await _deliver(callback(), asyncio.Event()) == ("fast", 7)
    assert seen == [1]


async def test_a_callback_that_waits_is_resumed_with_every_value_it_awaits() -> None:
    q: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    q.put_nowait(0)  # full: the put below has to wait

    async def callback() -> tuple[int, int]:
        await q.put(1)
        await asyncio.sleep(0)  # a bare yield
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, 41)
        return (await fut, q.qsize())

    async def drain() -> None:
        await asyncio.sleep(0.01)
        q.get_nowait()

    task = asyncio.create_task(drain())
    assert await _deliver(callback(), asyncio.Event()) == ("suspended", (41, 1))
    await task


async def test_a_blocked_callback_is_cancelled_by_suspend_flow_and_cleans_up() -> None:
    """#229: a delivery blocked on a full buffer must give way when the flow is suspended."""
    q: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    q.put_nowait(0)
    cleaned = []

    async def callback() -> None:
        try:
            await q.put(1)  # nobody drains: blocked for good
        finally:
            cleaned.append(True)

    suspend = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, suspend.set)
    result = await asyncio.wait_for(_deliver(callback(), suspend), timeout=5)
    assert result == ("suspended", None)
    await asyncio.sleep(0)
    assert cleaned == [True]
    assert q.qsize() == 1  # the blocked put never happened


async def test_an_error_in_the_callback_propagates_on_both_paths() -> None:
    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ValueError("later")

    with pytest.raises(ValueError, match="at once"):
        await _deliver(fails_at_once(), asyncio.Event())
    with pytest.raises(ValueError, match="later"):
        await _deliver(fails_later(), asyncio.Event())


async def test_faust_commits_a_coalesced_batch_only_once_its_message_is_acked() -> None:
    """Coalescing relies on Faust's gap bookkeeping (`_add_gap`, `_new_offset`, the code path of
    compacted topics): the offsets before a batch's last one are a gap that is committed only
    once the batch's message (its last offset) is acked. Run on the installed Faust's own code."""
    from types import SimpleNamespace

    from faust.types import TP
    from intervaltree import IntervalTree

    tp = TP("events", 0)
    c = SimpleNamespace(_acked={tp: []}, _gap={tp: IntervalTree()}, _committed_offset={tp: 100},
                        _acked_index={tp: set()})
    new_offset = faust_consumer.Consumer._new_offset
    add_gap = faust_consumer.Consumer._add_gap

    def ack(offset: int) -> None:
        c._acked[tp].append(offset)
        c._acked_index[tp].add(offset)

    # first batch after the seek to committed offset 100: records 100..149, delivered as 149;
    # the drain loop's read offset is 100, so it registers the gap 101..149 as stock does
    await add_gap(c, tp, 101, 149)
    assert new_offset(c, tp) is None  # nothing of the batch is committable before its ack
    ack(149)
    assert new_offset(c, tp) == 150
    c._committed_offset[tp] = 150
    # the next batch 150..199 while the agent still works on it: still nothing to commit
    await add_gap(c, tp, 150, 199)
    assert (new_offset(c, tp) or 150) <= 150  # at most the offset already committed
    ack(199)
    assert new_offset(c, tp) == 200


async def _commit_after(add_gap, batches: list[tuple[int, int]]) -> tuple[int | None, int | None]:  # type: ignore[no-untyped-def]
    """Deliver coalesced batches (first, last offset) as the drain loop does (the first one right
    after the seek to its first offset, each next one with a gap back to the previous last
    offset), ack every batch's message, then ask `_new_offset` twice, as two commits would."""
    from collections import defaultdict

    from faust.types import TP
    from intervaltree import IntervalTree

    tp = TP("events", 0)
    c = object.__new__(FastConsumer)  # just the bookkeeping `_add_gap` / `_new_offset` use
    c._acked, c._acked_index = defaultdict(list), defaultdict(set)
    c._gap, c._committed_offset = defaultdict(IntervalTree), defaultdict(lambda: batches[0][0])
    read = batches[0][0]
    for _, last in batches:
        await add_gap(c, tp, read + 1, last)  # what the loop does when `last - read > 1`
        read = last
    for _, last in batches:
        c._acked[tp].append(last)
        c._acked_index[tp].add(last)
    first = faust_consumer.Consumer._new_offset(c, tp)
    return first, faust_consumer.Consumer._new_offset(c, tp)


async def test_one_commit_covers_every_acked_coalesced_batch() -> None:
    """Stock `_add_gap` puts the delivered message's own offset into the gap, so its ack makes it
    a duplicate in `_acked`; `_new_offset` stops at a duplicate: one batch per commit, i.e. per
    second (the worker processed 262k records in ~23 s and committed them for 60 s more).
    `FastConsumer._add_gap` leaves it out: one commit takes all of them."""
    batches = [(0, 4999), (5000, 9999), (10000, 14999), (15000, 19999)]
    assert await _commit_after(FastConsumer._add_gap, batches) == (20000, None)
    # the stock behaviour this replaces; when a Faust release fixes it, this fails: then drop
    # FastConsumer._add_gap and this line (docs/faust.md, section 2)
    assert await _commit_after(faust_consumer.Consumer._add_gap, batches) == (5000, 10000)


def test_the_private_faust_hooks_the_table_writer_uses_are_there() -> None:
    """streams/worker/changelog.py writes a table's rows with the RocksDB store's per-partition
    database and the app's aiokafka producer (docs/faust.md, section 3)."""
    from aiokafka import AIOKafkaProducer
    from faust.stores.rocksdb import Store

    assert callable(Store._db_for_partition) and callable(Store.set_persisted_offset)
    assert "db.put(key, value)" in inspect.getsource(Store._set)  # the store's own write: a plain put
    assert callable(faust_aiokafka.Producer._ensure_producer)
    assert callable(AIOKafkaProducer.create_batch) and callable(AIOKafkaProducer.send_batch)


def test_the_faust_exactly_once_hooks_the_agents_use_are_there() -> None:
    """Under exactly-once the agents commit through the transactional producers Faust starts per
    source partition, and FastConsumer._commit_offsets leaves Faust's own commit out
    (streams/worker/eos.py, docs/faust.md section 4)."""
    from aiokafka import AIOKafkaProducer

    from streams.worker.eos import Transactions

    # Faust's transactional id per source partition, as Transactions.transactional_id builds it
    assert 'transactional_id_format = "{group_id}-{tpg.group}-{tpg.partition}"' in inspect.getsource(
        faust_consumer.TransactionManager)
    assert 'f"{group_id}-{group}-{tp.partition}"' in inspect.getsource(faust_consumer.TransactionManager.commit)
    # the producers and their locks, keyed by transactional id
    assert isinstance(faust_aiokafka.Producer._transaction_producers, dict)
    assert isinstance(faust_aiokafka.Producer._trn_locks, dict)
    assert "self._transaction_producers[transactional_id] = transaction_producer" in inspect.getsource(
        faust_aiokafka.Producer.begin_transaction)
    # Faust's commit under exactly-once goes through _commit_offsets -> transactions.commit
    src = inspect.getsource(faust_consumer.Consumer._commit_offsets)
    assert "self.transactions.commit(" in src and "self._committed_offset.update(" in src
    assert list(inspect.signature(faust_consumer.Consumer._commit_offsets).parameters) == [
        "self", "offsets", "start_new_transaction"]
    assert FastConsumer._commit_offsets is not faust_consumer.Consumer._commit_offsets
    for name in ("send_offsets_to_transaction", "commit_transaction", "begin_transaction"):
        assert callable(getattr(AIOKafkaProducer, name))

    class App:
        class conf:
            id = "pulse-worker"

        class assignor:
            @staticmethod
            def group_for_topic(topic: str) -> int:
                return {"events": 0, "scored": 0}[topic]

    assert Transactions(App()).transactional_id("scored", 3) == "pulse-worker-0-3"


def test_the_highwaters_replaced_under_exactly_once_are_stock_s() -> None:
    """transport.ConsumerThread._highwaters replaces stock's last_stable_offset branch (None before
    the first fetch: recovery then fails with ConsistencyError); stock still has that branch."""
    stock = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._highwaters)
    assert "consumer.last_stable_offset(tp)" in stock and "await consumer.end_offsets(partitions)" in stock
    assert "AIOKafkaConsumerThread(self, loop=self.loop, beacon=self.beacon)" in inspect.getsource(
        faust_aiokafka.Consumer._new_consumer_thread)
    assert issubclass(transport.ConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert 'isolation_level = "read_committed"' in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
