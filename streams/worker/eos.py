"""Exactly-once for the worker's agents (`PULSE_WORKER_PROCESSING_GUARANTEE=exactly_once`).

Faust's own exactly-once (`processing_guarantee="exactly_once"`) starts one transactional aiokafka
producer per assigned source partition (`TransactionManager.on_rebalance`, transactional id
``{app id}-{topic group}-{partition}``) and commits the consumer's offsets through them. What it
puts *into* those transactions does not fit the worker (docs/faust.md "Exactly once" says why
at length):

- `TransactionManager.send` picks the transactional id from the *destination* partition of a
  record, not from the source partition it was computed from; the worker's outputs (`scored`
  by account, `alerts`, the dead letters) are not co-partitioned with their input, and a topic
  outside the app's topic groups (`alerts`, the DLQ) has no transactional id at all;
- the agents send through `app.producer` and `TableWriter` through its aiokafka producer (the
  fast paths), which are not transactional;
- Faust commits every transaction at its own commit interval, from another task, while an agent
  may be half way through a batch: outputs of a batch whose source offsets are not acknowledged
  yet would be committed, and seen again after a crash.

So under exactly-once the agents commit their own transactions, one per batch and source
partition (`Transactions.commit`): with the transactional producer Faust started for that
partition, under Faust's per-id lock, they send the batch's outputs and changelog rows, add the
source offsets (`send_offsets_to_transaction`), commit and begin the next transaction. Only then
do the rows go into the local RocksDB store, so the store is never ahead of what the broker has
committed (a crash between the two replays the changelog tail). `FastConsumer._commit_offsets`
(streams/worker/transport.py) then leaves the offsets alone: they are already committed, inside
the transactions.

A kill -9 mid-batch leaves an open transaction; the next producer with the same transactional id
(the restarted worker, or the partition's next owner) fences it and the broker aborts it, so a
`read_committed` consumer never sees its records, and the batch is processed again from the
committed offset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import ProducerFenced
from aiokafka.structs import TopicPartition

from streams.worker.changelog import TableWriter

log = logging.getLogger("pulse.worker")

Out = tuple[str, bytes | None, bytes, int | None]  # (topic, key, value, partition or None: by key)


@dataclass
class Transactions:
    """The agents' transactions, one per batch and source partition."""

    app: Any  # faust.App with processing_guarantee="exactly_once"
    commits: int = 0
    skipped: int = 0  # records redelivered below an offset this process committed
    committed: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset, per source partition

    def fresh(self, topic: str, partition: int, records: list[Any]) -> list[Any]:
        """The records at or past the offset this process last committed for the partition.

        After a transaction commits, the broker writes its markers (the one in
        `__consumer_offsets` included) asynchronously; a consumer that fetches its committed
        offsets in between gets the previous one unless it asks for stable offsets
        (OffsetFetch `require_stable`, KIP-447), which aiokafka's OffsetFetch (v0-v3) cannot.
        Faust re-seeks to the committed offsets at every rebalance, so a batch committed just
        before one can come again: it is dropped here (its outputs are committed already)."""
        start = self.committed.get((topic, partition))
        if start is None or not records or records[0].offset >= start:
            return records
        keep = [r for r in records if r.offset >= start]
        self.skipped += len(records) - len(keep)
        return keep

    def transactional_id(self, topic: str, partition: int) -> str:
        """Faust's transactional id for a source partition (`TransactionManager.commit`'s format)."""
        group = self.app.assignor.group_for_topic(topic)
        return f"{self.app.conf.id}-{group}-{partition}"

    async def commit(self, topic: str, partition: int, next_offset: int | None, records: Sequence[Out],
                     tables: Sequence[TableWriter] = ()) -> None:
        """One transaction: `records`, the rows put into `tables`, and (unless None) the source
        offset `next_offset` of `topic`/`partition`; then the rows go into the local stores."""
        producer_service = self.app.producer
        tid = self.transactional_id(topic, partition)
        producer = producer_service._transaction_producers.get(tid)
        if producer is None:  # not (or no longer) assigned here: Faust stopped its producer
            raise ProducerFenced(f"no transactional producer for {tid} (partition not assigned here)")
        pending = [(w, w.take()) for w in tables]
        try:
            async with producer_service._trn_locks[tid]:
                futures = [await producer.send(t, value=v, key=k, partition=p) for t, k, v, p in records]
                sent = [(w, rows, await w.send(rows, producer)) for w, rows in pending if rows]
                for fut in futures:
                    await fut
                newest = [(w, rows, await w.settle(table_sent)) for w, rows, table_sent in sent]
                if next_offset is not None:
                    await producer.send_offsets_to_transaction(
                        {TopicPartition(topic, partition): next_offset}, self.app.conf.id)
                await producer.commit_transaction()
                self.commits += 1
                if next_offset is not None:
                    self.committed[(topic, partition)] = next_offset
                await producer.begin_transaction()
        except ProducerFenced as exc:  # another worker owns the partition now: stop, as Faust does
            log.warning("transactional producer %s fenced: %s", tid, exc)
            await self.app.crash(exc)
            raise
        for w, rows, offsets in newest:
            w.store(rows)
            w.mark(offsets)
