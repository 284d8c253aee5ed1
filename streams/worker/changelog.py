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

The agents call `flush()` before their batch returns, so a batch's state is on the broker before
its source offsets can be committed (stronger than Faust's buffer, which is flushed at commit).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable
from typing import Any

from faust.streams import _current_event


class TableWriter:
    """Write keys of one raw-bytes Faust table in bulk. Not thread-safe; one per table."""

    def __init__(self, app: Any, table: Any) -> None:
        self.app = app
        self.table = table
        self.topic = table.changelog_topic.get_topic_name()
        self._pending: list[Awaitable[Any]] = []

    async def put(self, event: Any, key: bytes, value: bytes) -> None:
        """Write `key` in the partition of `event` (a Faust event of a co-partitioned topic)."""
        _current_event.set(weakref.ref(event))  # the store picks the partition's database from it
        self.table.data[key] = value
        partition = event.message.partition
        self._pending.append(await self.app.producer.send(self.topic, key, value, partition, None, None))

    async def flush(self) -> int:
        """Wait until the broker has every record put since the last flush; returns how many."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        newest: dict[Any, int] = {}
        for fut in pending:
            md = await fut
            tp = md.topic_partition
            if md.offset > newest.get(tp, -1):
                newest[tp] = md.offset
        for tp, offset in newest.items():
            self.table.data.set_persisted_offset(tp, offset)
        return len(pending)
