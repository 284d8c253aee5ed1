"""Pulse's Faust transport: the aiokafka transport with a drain loop that does not build tasks
per record unless a record's delivery really has to wait.

Registered as the `pulse+kafka://` broker scheme (`register()`; the worker's app uses it). Every
other part of the transport is stock faust-streaming: group membership and assignment, fetching,
offsets and commits, the rebalance listener, tables and their changelogs, recovery, the producer.

What it replaces, and why it is safe (docs/faust.md says it at length):

Stock `Consumer._drain_messages` (faust/transport/consumer.py) hands each fetched record to the
conductor's callback as ``await self.wait_first(callback(message), self.suspend_flow.wait())``:
two tasks, an `asyncio.wait` and two more futures (the service's stopped/crashed events) per
record, whether or not the callback would ever wait. The race against `suspend_flow` is the fix
for faust-streaming #229: when a stream's buffer is full the callback blocks on `queue.put`, and
during a rebalance nothing drains that buffer, so without the race the drain loop (and with it
the rebalance) deadlocks.

`FastConsumer._drain_messages` is the stock loop line for line, except that it runs the callback
coroutine one step itself (`coro.send(None)`):
- it finished (StopIteration), the usual case: the record is in every subscribed stream's
  buffer and nothing was awaited, so there was nothing to race; no task is built;
- it suspended: the rest of the coroutine (`_Resume`, which first waits for the future it
  yielded) goes through the very same ``wait_first(..., self.suspend_flow.wait())`` as stock,
  so a blocked delivery is cancelled by `suspend_flow` exactly as before (#229 stays fixed);
- it raised: the exception propagates, as `wait_first` propagates it.

`fast` and `suspended` count the two cases (the worker's /pulse/consumer view shows them).

Coalescing (opt-in per topic, `coalesce(app, topics)`): the records one fetch returns for one
partition of such a topic are delivered as ONE Faust message, the last record's, carrying all of
them in `message.records` (aiokafka ConsumerRecords, in offset order). Faust's per-record costs
(conductor, stream, take buffer, ack, sensors) are then paid per fetched batch. Commits stay
Faust's: the drain loop sees the batch's earlier offsets as a gap before the last one and marks
them with `_add_gap`, exactly as it does for a compacted topic; Faust folds a gap into the
committed offset only once a later offset is acked, so nothing of a batch is committed before
the agent has acked the whole batch (its one message). The agent must read `message.records`.

Two fixes to that gap path, which coalescing makes the common one (docs/faust.md, section 2):
`_add_gap` leaves the delivered message's own offset out of its gap (stock puts it in, its ack
then duplicates it in `_acked`, and `_new_offset` stops at a duplicate: one batch per commit),
and the drain loop registers the gap after a message at offset 0 too (stock tests `r_offset`
for truth).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as stock
from mode import Service

from streams.worker.commitfix import OwedCommits
from streams.worker.seekfence import SeekFence

SCHEME = "pulse+kafka"
#: faust-streaming versions whose `Consumer._drain_messages` this module was checked against
#: (tests/unit/test_transport.py fails if the installed one differs from what is replaced here).
TESTED_FAUST = ("0.15.3",)


class _Resume:
    """Awaitable continuing a coroutine that was stepped once and yielded `first`."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: passed into the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class _Batch:
    """The records of one partition from one fetch, posing as its last record for `_to_message`."""

    __slots__ = (
        "checksum",
        "headers",
        "key",
        "offset",
        "partition",
        "records",
        "serialized_key_size",
        "serialized_value_size",
        "timestamp",
        "timestamp_type",
        "topic",
        "value",
    )

    def __init__(self, records: list[Any]) -> None:
        last = records[-1]
        self.topic, self.partition, self.offset = last.topic, last.partition, last.offset
        self.timestamp, self.timestamp_type, self.headers = last.timestamp, last.timestamp_type, last.headers
        self.key, self.value, self.checksum = last.key, last.value, last.checksum
        self.serialized_key_size = last.serialized_key_size
        self.serialized_value_size = last.serialized_value_size
        self.records = records


def coalesce(app: Any, topics: set[str]) -> None:
    """Deliver each fetch of these topics as one message per partition (see the module doc)."""
    app.pulse_coalesce_topics = frozenset(topics)


def commit_in_agents(app: Any) -> None:
    """Under exactly-once the worker's agents commit their transactions themselves (streams/worker/eos.py)."""
    app.pulse_commit_in_agents = True


def records_of(message: Any) -> list[Any]:
    """The records a Faust message stands for: its batch if coalesced, else itself."""
    records = getattr(message, "records", None)
    return records if records is not None else [message]


class ConsumerThread(stock.AIOKafkaConsumerThread):
    """The stock consumer thread, but for the highwaters under exactly-once.

    Stock `_highwaters` (faust/transport/drivers/aiokafka.py) returns, under exactly-once,
    `consumer.last_stable_offset(tp)`, which aiokafka only knows once a fetch for that partition
    returned (aiokafka's `last_stable_offset`: "not available until some messages are consumed").
    At a restart table recovery asks before any fetch of the changelog, gets None, makes it -1
    (`Recovery._build_highwaters`) and, with a local store, stops the worker with "persisted
    offset ... is higher than the last offset in that topic (highwater) (437 > -1)"
    (`ConsistencyError`, tables/recovery.py). `end_offsets` asks the broker; the consumer reads
    read_committed under exactly-once, so the broker answers the last stable offset."""

    async def _highwaters(self, partitions: Any) -> Any:
        return await self._ensure_consumer().end_offsets(partitions)


class FastConsumer(SeekFence, OwedCommits, stock.Consumer):
    """aiokafka Consumer whose drain loop steps each record's callback once before racing it,
    whose commits cannot stall (`OwedCommits`, streams/worker/commitfix.py), and which delivers
    nothing fetched across a seek (`SeekFence`, streams/worker/seekfence.py)."""

    fast = 0
    suspended = 0
    coalesced_batches = 0
    coalesced_records = 0
    kept_seek_offsets = 0  # deliveries that ended after a rebalance: the seek's read offset kept
    commit_started: float | None = None  # monotonic start of the running commit (streams/worker/commits.py)
    commits = 0
    commit_task: asyncio.Task[Any] | None = None

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Stock; only notes when the running commit started (shown by the commit watchdog)."""
        self.commit_started, self.commit_task = time.monotonic(), asyncio.current_task()
        try:
            return cast(bool, await super().force_commit(topics, start_new_transaction=start_new_transaction))
        finally:
            self.commit_started = None
            self.commits += 1

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        records = await super()._getmany(active_partitions, timeout)
        topics = getattr(self.app, "pulse_coalesce_topics", None)
        if not topics or not records:
            return records
        out = {}
        for tp, recs in records.items():
            if len(recs) > 1 and tp.topic in topics:
                out[tp] = [_Batch(recs)]
                self.coalesced_batches += 1
                self.coalesced_records += len(recs)
            else:
                out[tp] = recs
        return out

    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Stock, except under the worker's exactly-once (`commit_in_agents`): the agents commit
        each batch's offsets inside its transaction (streams/worker/eos.py), so Faust's periodic
        commit, which would commit a transaction half way through a batch from another task,
        only records what is committed."""
        if self.in_transaction and getattr(self.app, "pulse_commit_in_agents", False):
            self._committed_offset.update({tp: o for tp, o in offsets.items() if tp in self.assignment()})
            return False
        return await super()._commit_offsets(offsets, start_new_transaction)

    def _to_message(self, tp: Any, record: Any) -> Any:
        message = super()._to_message(tp, record)
        if type(record) is _Batch:
            message.records = record.records  # type: ignore[attr-defined]
        return message

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # Stock registers [offset_from, offset_to] inclusive, i.e. also the delivered message's own
        # offset, which its ack then adds to `_acked` a second time. `_new_offset` commits only the
        # first run of consecutive offsets, and a duplicate ends a run: one gap per commit (see
        # docs/faust.md, section 2, "Commits"). The gap is the offsets *before* the message.
        await super()._add_gap(tp, offset_from, offset_to - 1)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised end to end
        # Stock faust-streaming 0.15.3 Consumer._drain_messages, but for the delivery and the gap
        # test (marked).
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator, getmany(timeout=1.0))  # type: ignore[type-arg]

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        # -- Pulse: the read epoch (stock reads the read offset only). A seek or
                        #    revocation that began since this batch was fetched fences the rest
                        #    of it: not delivered, the partition seeked back (seekfence.py) --
                        epoch = self.seek_epoch
                        if acks_enabled_for(message.topic) and self.fenced(tp):
                            continue
                        r_offset = get_read_offset(tp)
                        # -- end Pulse --
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            # -- Pulse: the gap test (stock: `if gap > 1 and r_offset:`, which
                            #    skips the gap after a message at offset 0) --
                            if gap > 1 and r_offset is not None:
                            # -- end Pulse --
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102  (stock's text)
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # -- Pulse: the delivery (stock: await self.wait_first(
                            #    callback(message), self.suspend_flow.wait())) --
                            coro = cast(Coroutine[Any, Any, Any], callback(message))
                            try:
                                first = coro.send(None)
                            except StopIteration:
                                self.fast += 1
                            else:
                                self.suspended += 1
                                await self.wait_first(
                                    _Resume(coro, first), self.suspend_flow.wait()
                                )
                            # -- end Pulse --
                            # -- Pulse: the read offset (stock sets it unconditionally). A
                            #    rebalance while the callback ran (revoke pops the read offset,
                            #    the new assignment's seek sets it to the committed offset) wins:
                            #    this message was fetched before it, and its offset would hide
                            #    the re-fetched records behind it, so the commit never passes
                            #    them (docs/faust.md, section 6) --
                            if self.seek_epoch == epoch:
                                set_read_offset(tp, offset)
                            else:
                                self.kept_seek_offsets += 1
                            # -- end Pulse --
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


class Transport(stock.Transport):
    """The aiokafka transport with `FastConsumer`."""

    Consumer = FastConsumer


def register() -> None:
    """Make `pulse+kafka://host:port` a Faust broker URL for `Transport` (idempotent)."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"

