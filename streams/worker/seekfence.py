"""Pulse's fence around Faust's seeks: no record fetched across a seek is delivered
(docs/faust.md, section 7).

Stock faust-streaming 0.15.3 resumes a worker's stream partitions and only then seeks them to
the committed offsets (`Recovery.on_recovery_completed`, faust/tables/recovery.py:645-654:
`resume_partitions`, then `perform_seek`), and the flow is already active then (the standby or
changelog phase of the same recovery resumed it). `Consumer.perform_seek`
(faust/transport/consumer.py:565) is two steps far apart:

1. `seek_to_committed` runs in the consumer thread: aiokafka asks the broker for each partition's
   committed offset and moves that partition's fetch position there, one partition after the
   other (aiokafka `AIOKafkaConsumer.seek_to_committed`);
2. back on the worker's loop, the read offsets are set to the committed offsets.

The drain loop keeps fetching meanwhile. A fetch that returns between the two steps carries
records from the new position; the drain loop delivers them (the read offset was popped at the
revocation, so it registers no gap) and sets the read offset to the last one; step 2 then writes
the committed offset over it. The fetcher is past those records and will not return them again,
while the commit bookkeeping believes they were never read: their ack sits above the committed
offset with nothing between (`_new_offset`: `min(acked) - committed > 1`), and the partition's
commit stays where it is. tests/integration/test_worker_transport.py's rebalance test hit exactly
this (docs/faust.md section 7 gives the offsets it was caught at).

`SeekFence` (a mixin before `OwedCommits` and the stock consumer):

- counts a seek as running from its start to its end (`seeking`), and moves `seek_epoch` at both
  ends, so that a seek, or a revocation (which moves it too), is seen by whoever compares epochs;
- a fetch of a committing (acking) topic's partition that began or ended while a seek ran, or
  across a revocation, is not delivered: its records are dropped before the drain loop sees them
  and the partition is seeked again, before the next fetch, to the committed offset the seek
  read (`reseek`), so they come back with consistent bookkeeping;
- the drain loop (transport.py, "the read epoch") drops the rest of a batch the same way when a
  seek or revocation starts while it delivers the batch's earlier records.

Dropping a record before its delivery is always safe: nothing of it was processed or
acknowledged, and the partition is positioned at or below it again (the committed offset is at
most the first record never delivered). Changelog partitions are not touched: recovery and the
standbys position and read them themselves.
"""

from __future__ import annotations

from typing import Any

#: the stock methods this mixin wraps or relies on (tests/unit/test_seekfence.py hashes them)
DEPENDS_ON = ("perform_seek", "seek", "_wait_next_records")


class SeekFence:
    """Mixin for a Faust Consumer class: see the module doc."""

    seeking = 0  # seeks running now
    seek_epoch = 0  # +1 at each end of every seek and at every revocation (commitfix.py)
    fetch_epoch = 0  # seek_epoch when the batch being delivered was fetched
    straddled_fetches = 0  # fetches dropped because a seek or revocation ran while they waited
    dropped_after_seek = 0  # Faust messages not delivered: a seek started while their batch was delivered
    reseeks = 0  # partitions positioned again at their committed offset after a drop
    # the attributes below are the stock consumer's; declared here for the type checker
    _committed_offset: Any
    app: Any
    log: Any

    @property
    def reseek_tps(self) -> set[Any]:
        tps: set[Any] | None = self.__dict__.get("_reseek_tps")
        if tps is None:
            tps = self.__dict__["_reseek_tps"] = set()
        return tps

    async def perform_seek(self) -> None:
        self.seeking += 1
        self.seek_epoch += 1
        try:
            await super().perform_seek()  # type: ignore[misc]
        finally:
            self.seeking -= 1
            self.seek_epoch += 1

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        await self.reseek()
        epoch, seeking = self.seek_epoch, self.seeking
        records = await super()._getmany(active_partitions, timeout)  # type: ignore[misc]
        if records and (seeking or self.seeking or self.seek_epoch != epoch):
            acking = self.app.topics.acking_topics
            fenced = {tp for tp in records if tp.topic in acking}
            if fenced:
                self.straddled_fetches += 1
                self.reseek_tps.update(fenced)
                records = {tp: recs for tp, recs in records.items() if tp not in fenced}
        self.fetch_epoch = self.seek_epoch
        return records

    def fenced(self, tp: Any) -> bool:
        """Called by the drain loop before each delivery of an acking topic's message: True (and
        the partition queued for a reseek) when a seek or revocation began since its fetch."""
        if self.seek_epoch == self.fetch_epoch and not self.seeking:
            return False
        self.dropped_after_seek += 1
        self.reseek_tps.add(tp)
        return True

    async def reseek(self) -> None:
        """Position the partitions whose records were dropped at their committed offset (what the
        last seek read from the broker, or what this worker committed since); not while a seek
        runs (its end is another fence, and the next fetch retries)."""
        tps = self.reseek_tps
        if not tps or self.seeking:
            return
        todo = sorted(tps)
        tps.clear()
        assigned = self.assignment()  # type: ignore[attr-defined]
        for tp in todo:
            if tp not in assigned:
                continue  # revoked meanwhile: its next owner starts at the committed offset
            offset = self._committed_offset.get(tp) or 0  # None: nothing committed, from the start
            self.reseeks += 1
            self.log.info("Records of %r fetched across a seek were not delivered: seeking back to %r",
                          tp, offset)
            try:
                await self.seek(tp, offset)  # type: ignore[attr-defined]
            except Exception as exc:  # a revocation racing the seek: the new assignment's seek decides
                self.log.warning("Seek of %r back to %r after a fenced fetch failed: %r", tp, offset, exc)
