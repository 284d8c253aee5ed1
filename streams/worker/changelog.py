"""Bulk writes to a Faust table: local RocksDB put + the changelog record, awaited together.

A Faust `table[key] = value` goes through `Table.on_key_set -> send_changelog -> send_soon`,
a per-message path (FutureMessage, PendingMessage, the ProducerBuffer task awaiting
`Topic.publish_message` one record at a time). With many accounts almost every scored event
dirties a distinct account, so that path ran once per event and was the worker's largest cost
in a profile (docs/benchmarks.md#where-the-time-goes).

`TableWriter` keeps the same on-disk and on-topic result and the same recovery story:

- the value goes into the table's own store (`table.data`, the RocksDB database of the
  partition, via the store's normal `__setitem__`), so `table.items()` and recovery see it;
- the changelog record (raw key and value, the table's changelog topic, the partition) is sent
  through the app's producer directly, all of a batch's records back to back;
- `flush()` awaits every record's acknowledgement, then records the highest changelog offset per
  partition as the store's persisted offset, exactly what Faust's `_on_changelog_sent` callback
  does under at-least-once, so a restart replays only the changelog tail.

Per flush, each partition's rows go to its RocksDB database in one `WriteBatch` and to the
changelog as aiokafka record batches (`create_batch` / `send_batch`, the producer's own batch
API): one write and a few sends per partition instead of one store write and one `send` per row
(in a py-spy profile of the worker with coalesced delivery, the store's per-key `_set` and the
per-record `send` were the two largest costs). Rows of one flush keep their order, so a key written
twice ends with its last value both in the store and on the changelog.

The agents call `flush()` before their batch returns, so a batch's state is on the broker before
its source offsets can be committed (stronger than Faust's buffer, which is flushed at commit).
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.streams import _current_event
from rocksdict import WriteBatch


class TableWriter:
    """Write keys of one raw-bytes Faust table in bulk. Not thread-safe; one per table."""

    def __init__(self, app: Any, table: Any) -> None:
        self.app = app
        self.table = table
        self.topic = table.changelog_topic.get_topic_name()
        self._rows: dict[int, list[tuple[bytes, bytes]]] = {}
        self._anchors: dict[int, Any] = {}

    async def put(self, event: Any, key: bytes, value: bytes) -> None:
        """Write `key` in the partition of `event` (a Faust event of a co-partitioned topic)."""
        partition = event.message.partition
        rows = self._rows.get(partition)
        if rows is None:
            rows = self._rows[partition] = []
            self._anchors[partition] = event
        rows.append((key, value))

    def _store_rows(self, partition: int, rows: list[tuple[bytes, bytes]]) -> None:
        store = self.table.data
        db_for = getattr(store, "_db_for_partition", None)
        if db_for is None:  # not the RocksDB store: its own per-key path, pointed at the partition
            _current_event.set(weakref.ref(self._anchors[partition]))
            for key, value in rows:
                store[key] = value
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in rows:
            batch.put(key, value)
        db_for(partition).write(batch)

    def take(self) -> dict[int, list[tuple[bytes, bytes]]]:
        """The rows put since the last take, by partition (the writer is empty after)."""
        rows, self._rows = self._rows, {}
        return rows

    async def flush(self) -> int:
        """Wait until the broker has every row put since the last flush; returns how many.
        At-least-once: the rows go to RocksDB first, then to the changelog."""
        rows_by_partition = self.take()
        if not rows_by_partition:
            return 0
        self.store(rows_by_partition)
        sent = await self.send(rows_by_partition, self.app.producer._ensure_producer())
        self.mark(await self.settle(sent))
        return sum(len(rows) for rows in rows_by_partition.values())

    def store(self, rows_by_partition: dict[int, list[tuple[bytes, bytes]]]) -> None:
        """Write the rows to the partitions' RocksDB databases."""
        for partition, rows in rows_by_partition.items():
            self._store_rows(partition, rows)
        self._anchors = {}

    async def send(self, rows_by_partition: dict[int, list[tuple[bytes, bytes]]],
                   producer: Any) -> list[tuple[int, Any]]:
        """Send the rows to the changelog through `producer` (an aiokafka producer: the app's, or
        under exactly-once the transactional producer of the batch's source partition);
        returns (records in the batch, its future) per record batch sent."""
        sent: list[tuple[int, Any]] = []
        for partition, rows in rows_by_partition.items():
            batch, n = producer.create_batch(), 0
            for key, value in rows:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
                    sent.append((n, await producer.send_batch(batch, self.topic, partition=partition)))
                    batch, n = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a {self.topic} record of {len(key) + len(value)} bytes "
                                         "does not fit in a producer batch")
                n += 1
            if n:
                sent.append((n, await producer.send_batch(batch, self.topic, partition=partition)))
        return sent

    async def settle(self, sent: list[tuple[int, Any]]) -> dict[Any, int]:
        """Wait for the broker's acknowledgements; the highest changelog offset per partition."""
        newest: dict[Any, int] = {}
        for n, fut in sent:
            md = await fut
            last = md.offset + n - 1  # a batch's records get consecutive offsets from its base
            if last > newest.get(md.topic_partition, -1):
                newest[md.topic_partition] = last
        return newest

    def mark(self, newest: dict[Any, int]) -> None:
        """Record the highest changelog offset per partition as the store's persisted offset (a
        restart replays only the changelog after it): only once the rows are in the store."""
        for tp, offset in newest.items():
            self.table.data.set_persisted_offset(tp, offset)
