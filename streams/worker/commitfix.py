"""Pulse's fix of Faust's commit stall (docs/chaos.md "The commit stall", docs/faust.md section 5).

Stock faust-streaming 0.15.3 (`faust/transport/consumer.py`) commits a partition in two steps
that can come apart:

1. `Consumer._new_offset` takes the run of acked offsets it is about to commit out of `_acked`
   (and the gaps it folded in out of `_gap`) before anything is sent;
2. `Consumer._commit_offsets` records the offset in `_committed_offset` at its end, **whether or
   not the broker took the commit** (`did_commit` is not looked at), and even when a rebalance
   and its `perform_seek` (which reset `_committed_offset` to the broker's value) ran while the
   commit was waiting.

A commit the broker refuses (aiokafka's `CommitFailedError` "already rebalanced" makes the
driver's `_commit` return False) therefore leaves Faust's committed offset ahead of the broker's.
Every ack below it is then dropped (`Consumer.ack` keeps `offset >= committed` only) and
`_should_commit` refuses anything not above it, so the broker's committed offset only moves again
when a record *beyond* the refused offset is acked. At the end of the input (or when the input
waits for the worker's progress) there is none: the group's committed offset stays put while the
worker has consumed everything. A commit that ends between the two steps (an exception, a
cancellation, a discard) leaves the opposite: the run is gone from `_acked`, `_committed_offset`
did not move, and `_new_offset`'s head test (`min(acked) - committed > 1`) returns None for good.

`OwedCommits` (a mixin before the stock consumer class):

- remembers, per partition, the offset `_new_offset` handed out last (`handed_out`);
- when a commit returns False (not taken by the broker), puts back the committed offset it had
  before, or, if a rebalance or seek ran meanwhile, the one that seek read from the broker;
  a commit the broker took is recorded exactly as stock records it;
- when the committed offset is below what was handed out (the commit of a run did not get
  recorded), the next `_new_offset` measures its head test from the handed-out offset and
  returns at least that offset, so the run is committed by the next commit;
- bounds a commit (`commit_timeout`): one that has not returned is abandoned (cancelled: the
  wait for the producer's flush or for the consumer thread), and its offsets are owed to the next
  commit as above;
- forgets the handed-out offsets of revoked partitions (the next owner, or this worker after
  `perform_seek`, resumes from the broker's committed offset).

Under transactions (`in_transaction`) nothing changes: the transaction manager owns the commit.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: the stock `Consumer` methods this mixin wraps or relies on (`ack`'s `offset >= committed`,
#: `_should_commit`'s `offset > committed`); tests/unit/test_commitfix.py fails when their
#: source differs from the faust-streaming this was written against (TESTED_FAUST in
#: streams/worker/transport.py)
DEPENDS_ON = ("_new_offset", "_commit_offsets", "perform_seek", "on_partitions_revoked", "ack",
              "_should_commit", "_commit_tps", "commit")


class OwedCommits:
    """Mixin for a Faust Consumer class: see the module doc."""

    commit_timeout = 60.0
    seek_epoch = 0  # +1 at every revocation and at both ends of a seek (seekfence.py): "the read epoch"
    commit_inner: asyncio.Future[Any] | None = None
    abandoned_commits = 0
    refused_commits = 0
    # the attributes below are the stock consumer's; declared here for the type checker
    _committed_offset: Any
    in_transaction: bool
    log: Any

    def _owed_state(self) -> tuple[dict[Any, int], dict[Any, int | None]]:
        if "handed_out" not in self.__dict__:
            self.handed_out: dict[Any, int] = {}
            self.seeked: dict[Any, int | None] = {}
        return self.handed_out, self.seeked

    def _new_offset(self, tp: Any) -> int | None:
        handed, _ = self._owed_state()
        owed = handed.get(tp)
        committed = self._committed_offset[tp]
        if owed is not None and committed is not None and owed <= committed:
            owed = None  # recorded: nothing owed
            del handed[tp]
        if owed is None:
            offset: int | None = super()._new_offset(tp)  # type: ignore[misc]
        else:
            # the run below `owed` was taken out of _acked by an earlier call whose commit was not
            # recorded: stock's head test measures from there
            self._committed_offset[tp] = owed
            try:
                offset = super()._new_offset(tp)  # type: ignore[misc]
            finally:
                self._committed_offset[tp] = committed
            offset = owed if offset is None else max(offset, owed)
        if offset is not None:
            handed[tp] = offset
        return offset

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        if self.in_transaction:
            return bool(await super()._commit_offsets(offsets, start_new_transaction))  # type: ignore[misc]
        self._owed_state()
        epoch = self.seek_epoch
        before = {tp: self._committed_offset.get(tp) for tp in offsets}
        inner = asyncio.ensure_future(super()._commit_offsets(offsets, start_new_transaction))  # type: ignore[misc]
        self.commit_inner = inner  # where it waits: streams/worker/commits.py commit_awaits
        try:
            done, _ = await asyncio.wait({inner}, timeout=self.commit_timeout)
        except BaseException:  # this commit cancelled (the worker stopping): the inner one with it
            inner.cancel()
            raise
        if not done:
            from streams.worker.commits import coroutine_chain

            where = coroutine_chain(inner.get_coro())
            inner.cancel()
            await asyncio.wait({inner}, timeout=5.0)
            self.abandoned_commits += 1
            self.log.warning("Commit of %r abandoned after %.0f s, waiting at %s; the next commit "
                             "takes it over", dict(offsets), self.commit_timeout, where[-4:])
            return False
        did = bool(inner.result())  # stock's exceptions propagate as before
        if not did:
            restored = False
            for tp, offset in offsets.items():
                if self._committed_offset.get(tp) != offset or before[tp] == offset:
                    continue  # not recorded by this commit (revoked: discarded), or nothing to undo
                restored = True
                if self.seek_epoch == epoch:
                    self._committed_offset[tp] = before[tp]
                elif tp in self.seeked:
                    self._committed_offset[tp] = self.seeked[tp]
                else:
                    self._committed_offset.pop(tp, None)
            if restored:
                self.refused_commits += 1
                self.log.info("Commit of %r not taken by the broker; not recorded, the next commit "
                              "retries it", dict(offsets))
        return did

    async def perform_seek(self) -> None:
        await super().perform_seek()  # type: ignore[misc]
        self._owed_state()
        self.seek_epoch += 1
        self.seeked = dict(self._committed_offset)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        handed, _ = self._owed_state()
        for tp in revoked:
            handed.pop(tp, None)
        self.seek_epoch += 1
        self.seeked = {}
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]
