"""The score step: `scored` records -> band-change alerts, over one `PartitionState` per partition.

Plain code, no Faust: the `score` agent (`streams.worker.agents`) hands it each batch of
`scored` records, sends the alerts it returns, then persists `take_writes()` to the
account-state table. The step owns the partition states:

- a partition's state is restored from the table's rows (`load(partition)`) the first time one
  of its records arrives, so a restart (or a re-assignment) continues where the table is;
- a record whose offset the state already holds (a redelivery after a crash, before the source
  offset was committed) changes nothing (`PartitionState` keeps the applied positions);
- `revoke(partition)` drops the state when the partition goes to another worker; a later
  assignment restores it from the table again.

The metrics read the states through the step (`metrics.bind(step, ...)`), never through the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from scoring.engine import Change
from scoring.model import Model
from streams.worker.partition_state import PartitionState
from streams.worker.records import alert_from_change

log = logging.getLogger("pulse.worker")

AlertRecord = tuple[bytes, bytes]  # (account key, alert JSON) for the `alerts` topic
Rows = Iterable[tuple[bytes, bytes]]


class ScoredRecord(Protocol):
    """What the score step reads of a `scored` record (a Faust `Message` has these attributes)."""

    partition: int
    offset: int
    value: bytes | None


class ScoreStep:
    """The states of the `scored` partitions this worker holds, and the batch work over them."""

    def __init__(self, model: Model, sweep_seconds: int, load: Callable[[int], Rows],
                 on_restore: Callable[[PartitionState], None] | None = None) -> None:
        """`load(partition)` returns the account-state table's rows (rows of other partitions
        are skipped); `on_restore` sees every state built from them (the metrics' baseline)."""
        self.model, self.sweep_seconds, self.load, self.on_restore = model, sweep_seconds, load, on_restore
        self.partitions: dict[int, PartitionState] = {}

    def state(self, partition: int) -> PartitionState:
        """The partition's state, restored from the table on first use."""
        st = self.partitions.get(partition)
        if st is None:
            st = PartitionState.restore(partition, self.model, self.sweep_seconds, self.load(partition))
            self.partitions[partition] = st
            if self.on_restore is not None:
                self.on_restore(st)
            log.info("partition %d: restored %d accounts (stream clock %s)", partition,
                     len(st.scorer.accounts), st.scorer.clock)
        return st

    def apply(self, records: Iterable[ScoredRecord]) -> list[AlertRecord]:
        """Fold a batch of `scored` records in, in order; the alerts of the band changes."""
        out: list[AlertRecord] = []
        for msg in records:
            st = self.state(msg.partition)
            out.extend(alerts_for(st, st.apply(msg.offset, msg.value or b"")))
        return out

    def sweep(self, partition: int, now_us: int) -> list[AlertRecord]:
        """Sweep a held partition to the wall clock `now_us` (`--live`); [] if not held."""
        st = self.partitions.get(partition)
        if st is None:
            return []
        changes: list[Change] = []
        st.scorer.sweep_to(now_us, changes)
        return alerts_for(st, changes)

    def take_writes(self, partitions: Iterable[int]) -> list[tuple[int, bytes, bytes]]:
        """The (partition, key, value) rows to persist for `partitions` after a batch."""
        return [(p, key, value) for p in partitions if p in self.partitions
                for key, value in self.partitions[p].take_writes()]

    def held(self, partitions: Iterable[int]) -> list[PartitionState]:
        return [self.partitions[p] for p in partitions if p in self.partitions]

    def revoke(self, partition: int) -> None:
        """The partition went to another worker: forget its state (the table keeps it)."""
        self.partitions.pop(partition, None)


def alerts_for(st: PartitionState, changes: list[Change]) -> list[AlertRecord]:
    """The alerts of a partition's band changes (a first band is not an alert)."""
    return [(c.account.encode(), alert_from_change(c, traits=st.traits.get(c.account)).to_json())
            for c in changes if c.from_band is not None]
