"""Pulse's fix of Faust's commit stall (streams/worker/commitfix.py): fails loudly when a Faust
upgrade changes the stock code it is written against, and checks the owed-offset rule on Faust's
own `_new_offset` (the real broker cases are tests/integration/test_commit_stall.py)."""

from __future__ import annotations

import hashlib
import inspect
from collections import defaultdict
from typing import Any

import pytest
from faust.transport import consumer as faust_consumer
from intervaltree import IntervalTree

from streams.worker.commitfix import DEPENDS_ON, OwedCommits
from streams.worker.transport import TESTED_FAUST, FastConsumer

#: sha256 (first 16 hex) of the stock methods' source in faust-streaming 0.15.3
STOCK_SHA = {
    "_new_offset": "1d2c7ea89a7ad4f1",
    "_commit_offsets": "1a69799041188441",
    "perform_seek": "0e8c130ff4b0afd8",
    "on_partitions_revoked": "d04b7ae72c6fc206",
    "ack": "5fcf41cf45153475",
    "_should_commit": "5ce941793947ad42",
    "_commit_tps": "a20e230b05ae8b15",
    "commit": "a354437baaa08bf8",
}


def _src(name: str) -> str:
    return inspect.getsource(getattr(faust_consumer.Consumer, name))


def test_the_stock_code_the_fix_is_written_against_is_installed() -> None:
    """A Faust release that changes any of these fails here: read the new code against
    streams/worker/commitfix.py's module doc, re-run tests/integration/test_commit_stall.py
    (its stock cases say whether the stall is still there), then update the hashes and TESTED_FAUST."""
    got = {n: hashlib.sha256(_src(n).encode()).hexdigest()[:16] for n in DEPENDS_ON}
    assert got == STOCK_SHA, f"faust-streaming's commit code changed (tested: {TESTED_FAUST})"
    # the statements the fix's reasoning rests on, named so a changed one is easy to find
    commit_offsets = _src("_commit_offsets")
    assert "self._committed_offset.update(committable_offsets)" in commit_offsets  # recorded ...
    assert "if did_commit:" in commit_offsets  # ... after, and outside, the only test of did_commit
    assert commit_offsets.index("if did_commit:") < commit_offsets.index("self._committed_offset.update")
    new_offset = _src("_new_offset")
    assert "if min(acked) - committed_offset > 1:" in new_offset and "acked[: len(batch)] = []" in new_offset
    assert "if committed is None or offset >= committed:" in _src("ack")
    assert "offset > committed" in _src("_should_commit")
    assert "self._committed_offset.pop(tp, None)" in _src("on_partitions_revoked")


def test_fast_consumer_runs_the_fix_before_stock() -> None:
    mro = FastConsumer.__mro__
    assert mro.index(OwedCommits) < mro.index(faust_consumer.Consumer)
    for name in ("_new_offset", "_commit_offsets", "perform_seek", "on_partitions_revoked"):
        assert getattr(FastConsumer, name) is not getattr(faust_consumer.Consumer, name)


class TP(tuple[str, int]):
    pass


T = TP(("events", 0))


class Stock:
    _new_offset = faust_consumer.Consumer._new_offset


class Books(OwedCommits, Stock):
    """The fix over Faust's `_new_offset` and the bookkeeping maps it reads, nothing else."""

    def __init__(self, committed: int | None) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset[T] = committed

    def ack(self, *offsets: int) -> None:
        self._acked[T].extend(offsets)
        self._acked_index[T].update(offsets)


class StockBooks(Books):
    """Stock Faust's `_new_offset` alone."""

    _new_offset = faust_consumer.Consumer._new_offset  # type: ignore[assignment]


@pytest.mark.parametrize("cls", [Books, StockBooks])
def test_a_run_handed_out_but_not_recorded_is_committed_by_the_next_commit(cls: type[Books]) -> None:
    b = cls(committed=100)
    b.ack(*range(100, 150))
    assert b._new_offset(T) == 150  # handed to a commit that then ends without recording it
    b.ack(*range(150, 160))
    got = b._new_offset(T)
    if cls is StockBooks:
        # stock Faust: 150 - 100 > 1, so None now and for every later commit (the stall); when a
        # Faust release changes this, this fails: see test_the_stock_code_..._is_installed
        assert got is None
        b.ack(*range(160, 170))
        assert b._new_offset(T) is None
    else:
        assert got == 160  # the owed run and the new one
        b._committed_offset[T] = 160  # this one recorded
        b.ack(162, 163)  # a hole at 160-161: nothing may be committed past it
        assert b._new_offset(T) is None and b.handed_out == {}


def test_an_owed_offset_is_committed_even_with_nothing_new_acked() -> None:
    b = Books(committed=100)
    b.ack(*range(100, 150))
    assert b._new_offset(T) == 150
    assert b._new_offset(T) == 150  # the end of the input: nothing else will be acked
    b.ack(155)  # a hole after the owed offset is still a hole
    assert b._new_offset(T) == 150


class FakeStockCommit:
    """Stock `_commit_offsets`' effect on the bookkeeping: record the offsets, return what the
    broker said; `during` runs while it waits (a rebalance's seek, or a wait that never ends)."""

    in_transaction = False
    log = __import__("logging").getLogger("test")

    def __init__(self, broker_says: bool, during: Any = None) -> None:
        self.broker_says, self.during = broker_says, during

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        if self.during is not None:
            await self.during(self)
        self._committed_offset.update(offsets)  # type: ignore[attr-defined]
        return self.broker_says

    async def perform_seek(self) -> None:
        self._committed_offset[T] = 120  # type: ignore[attr-defined]  # what the broker has


class Committer(OwedCommits, FakeStockCommit):
    def __init__(self, broker_says: bool, during: Any = None) -> None:
        FakeStockCommit.__init__(self, broker_says, during)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset[T] = 100


def test_a_refused_commit_is_not_recorded() -> None:
    import asyncio

    c = Committer(broker_says=False)
    assert asyncio.run(c._commit_offsets({T: 150})) is False
    assert c._committed_offset[T] == 100 and c.refused_commits == 1
    ok = Committer(broker_says=True)
    assert asyncio.run(ok._commit_offsets({T: 150})) is True
    assert ok._committed_offset[T] == 150  # a commit the broker took: recorded as stock records it


def test_a_refused_commit_returning_after_a_seek_leaves_the_brokers_offset() -> None:
    import asyncio

    async def seek(c: Any) -> None:
        await c.perform_seek()

    c = Committer(broker_says=False, during=seek)
    assert asyncio.run(c._commit_offsets({T: 150})) is False
    assert c._committed_offset[T] == 120  # stock leaves 150: Faust ahead of the broker for good


def test_a_commit_that_never_returns_is_abandoned_and_owed() -> None:
    import asyncio

    async def forever(c: Any) -> None:
        await asyncio.Event().wait()

    class Hanging(Committer, Stock):
        commit_timeout = 0.2

    c = Hanging(broker_says=True, during=forever)
    c._acked: dict[Any, list[int]] = defaultdict(list)  # type: ignore[misc]
    c._acked_index: dict[Any, set[int]] = defaultdict(set)  # type: ignore[misc]
    c._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)  # type: ignore[misc]
    c._acked[T].extend(range(100, 150))
    offset = c._new_offset(T)
    assert offset == 150
    assert asyncio.run(c._commit_offsets({T: offset})) is False
    assert c.abandoned_commits == 1 and c._committed_offset[T] == 100
    assert c._new_offset(T) == 150  # the next commit takes it over
