"""The worker's plain steps without a broker: `ResolveStep` (parse, route, partition, dead letters)
and `ScoreStep` (partition states: redelivery, restore after a crash, revocation).

The account-state table is a plain dict here (the score step only needs its rows); the records
are the attributes a Faust `Message` has. The stream tests (tests/integration) run the same
steps inside the real worker against the real broker.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from scoring.model import load_model
from streams.dev.telemetry import Config, generate
from streams.worker.resolve import AccountPartitioner, ResolveStep, UserMap
from streams.worker.score import ScoreStep

NOW_US = 2_000_000_000 * 1_000_000  # later than every generated event: no future-skew rejections
PARTITIONS = 3


def rec(value: bytes, offset: int, partition: int = 0, key: bytes | None = b"u") -> Any:
    return types.SimpleNamespace(topic="t.events", partition=partition, offset=offset, key=key, value=value)


def event(**fields: Any) -> bytes:
    return orjson.dumps({"timestamp": "2024-01-01T00:00:00Z", **fields})


class Table:
    """The user -> account table: a dict, with the lookups it answered."""

    def __init__(self, rows: dict[str, str] | None = None) -> None:
        self.rows = dict(rows or {})
        self.lookups: list[tuple[int, str]] = []

    def lookup(self, partition: int, user: str) -> str | None:
        self.lookups.append((partition, user))
        return self.rows.get(user)


def resolve_step(table: Table, partitions: int = PARTITIONS) -> ResolveStep:
    return ResolveStep(UserMap(table.lookup), AccountPartitioner(partitions), 300_000_000)


# -- resolve ---------------------------------------------------------------------------------
def test_account_partition_is_kafkas_default_partitioner() -> None:
    part = AccountPartitioner(7)
    kafka = DefaultPartitioner()
    for account in ("acme", "globex", "initech", "ü-umlaut", "a" * 300):
        assert part(account) == kafka(account.encode(), list(range(7)), list(range(7)))


def test_group_call_maps_the_user_and_is_written_once_with_its_source_partition() -> None:
    table = Table()
    step = resolve_step(table)
    out = step.batch([
        rec(event(type="group", userId="u1", groupId="acme", messageId="g1"), 10, partition=2),
        rec(event(type="track", userId="u1", event="Login", messageId="m1"), 11, partition=2),
        rec(event(type="group", userId="u1", groupId="acme", messageId="g2"), 12, partition=2),  # again
    ], NOW_US)
    items = out.scored[AccountPartitioner(PARTITIONS)("acme")]
    assert [(i["a"], i["n"], i["m"]) for i in items] == [("acme", "Login", "m1")]
    assert step.users.take_writes() == [(2, "u1", "acme")]  # one write, in the record's partition
    assert step.users.take_writes() == []
    assert out.dead_letters == [] and out.invalid == {}
    # a later batch resolves u1 from the cache; a user it never saw is looked up in its partition
    out = step.batch([rec(event(type="track", userId="u1", event="Login", messageId="m2"), 13, partition=2),
                      rec(event(type="track", userId="u9", event="Login", messageId="m3"), 14, partition=1)],
                     NOW_US)
    accounts = sorted(i["a"] for items in out.scored.values() for i in items)
    assert accounts == ["acme", "u9"]  # u9 has no mapping: the userId is the account
    assert table.lookups == [(1, "u9")]  # u1 never: the group call put it in the cache


def test_mapping_persisted_by_an_earlier_run_is_read_from_the_table() -> None:
    step = resolve_step(Table({"u1": "globex"}))
    out = step.batch([rec(event(type="track", userId="u1", event="Login", messageId="m1"), 0)], NOW_US)
    assert [i["a"] for items in out.scored.values() for i in items] == ["globex"]
    assert step.users.take_writes() == []


def test_group_traits_go_to_the_accounts_partition_as_a_traits_item() -> None:
    step = resolve_step(Table())
    out = step.batch([rec(event(type="group", userId="u1", groupId="acme", messageId="g1",
                                traits={"plan": "pro"}), 0)], NOW_US)
    assert out.scored == {AccountPartitioner(PARTITIONS)("acme"): [{"k": "traits", "a": "acme",
                                                                      "t": {"plan": "pro"}}]}


def test_invalid_input_becomes_a_dead_letter_with_bytes_reason_and_offset() -> None:
    step = resolve_step(Table())
    bad = b"{not json"
    out = step.batch([rec(bad, 41, partition=1, key=b"k1"),
                      rec(event(type="track", event="Login", messageId="m1"), 42)],  # no user, no account
                     NOW_US)
    assert out.scored == {}
    assert sum(out.invalid.values()) == 2 and len(out.invalid) == 2
    letters = [(key, orjson.loads(value)) for key, value in out.dead_letters]
    assert [(k, d["offset"], d["partition"], d["topic"]) for k, d in letters] == [
        (b"k1", 41, 1, "t.events"), (b"u", 42, 0, "t.events")]
    assert base64.b64decode(letters[0][1]["raw_b64"]) == bad
    assert letters[0][1]["at"] == "2033-05-18T03:33:20+00:00"  # the batch's wall clock, NOW_US
    assert {d["reason"] for _, d in letters} == set(out.invalid)


# -- score -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scored_records() -> list[Any]:
    """Generated telemetry (churning accounts: band changes) through the resolve step: the
    `scored` records the score step gets, in offset order per partition."""
    step = resolve_step(Table())
    raw = [rec(line, i) for i, line in enumerate(generate(Config(events=6000, accounts=40, days=60,
                                                                  seed=3, bad_rate=0.0)))]
    records: list[Any] = []
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    for start in range(0, len(raw), 100):  # resolve batches of 100 records
        out = step.batch(raw[start:start + 100], NOW_US)
        for p, items in sorted(out.scored.items()):
            records.append(types.SimpleNamespace(partition=p, offset=offsets[p], value=orjson.dumps(items)))
            offsets[p] += 1
    assert len(records) > 150
    return records


class Worker:
    """A score step with its table (a dict) and what it sent: the agent's part, minus Kafka."""

    def __init__(self, table: dict[bytes, bytes] | None = None) -> None:
        self.table = {} if table is None else table
        self.loads: list[int] = []
        self.step = ScoreStep(load_model(None), 86400, load=self.load)
        self.alerts: list[dict[str, Any]] = []

    def load(self, partition: int) -> Iterable[tuple[bytes, bytes]]:
        self.loads.append(partition)
        return list(self.table.items())

    def batch(self, records: list[Any], persist: bool = True) -> list[dict[str, Any]]:
        sent = [orjson.loads(value) for _, value in self.step.apply(records)]
        self.alerts.extend(sent)
        if persist:
            for _, key, value in self.step.take_writes(sorted({r.partition for r in records})):
                self.table[key] = value
        return sent

    def state(self) -> dict[int, Any]:
        """Every held partition's scores, counts, clock and offsets."""
        return {p: (st.scorer.scores(), dict(st.scorer.counts), st.scorer.clock, st.last_offset,
                    dict(st.offsets), dict(st.traits)) for p, st in sorted(self.step.partitions.items())}


def batches(records: list[Any], size: int = 7) -> Iterator[list[Any]]:
    for i in range(0, len(records), size):
        yield records[i:i + size]


@pytest.fixture(scope="module")
def uninterrupted(scored_records: list[Any]) -> Worker:
    w = Worker()
    for b in batches(scored_records):
        w.batch(b)
    assert len(w.alerts) >= 5, "the data must cause band changes for these tests to mean anything"
    return w


def test_redelivery_of_applied_offsets_changes_nothing(scored_records: list[Any]) -> None:
    w = Worker()
    for b in batches(scored_records[:60]):
        w.batch(b)
    before, table = w.state(), dict(w.table)
    for b in batches(scored_records[20:60]):  # a redelivery: offsets committed only up to record 20
        assert w.batch(b) == []
    assert w.state() == before
    account_rows = {k: v for k, v in w.table.items() if not k.startswith(b"\x00meta:")}
    assert account_rows == {k: v for k, v in table.items() if not k.startswith(b"\x00meta:")}


@pytest.mark.parametrize("crash_at,committed_at", [(30, 30), (61, 40), (120, 97)])
def test_restore_after_a_crash_gives_the_results_of_never_stopping(
        scored_records: list[Any], uninterrupted: Worker, crash_at: int, committed_at: int) -> None:
    """Run to `crash_at` (state persisted), crash, restart from the table and get the records
    again from the last committed source offset (`committed_at`): the same alerts, the same state."""
    first = Worker()
    for b in batches(scored_records[:crash_at]):
        first.batch(b)
    restarted = Worker(dict(first.table))
    for b in batches(scored_records[committed_at:]):
        restarted.batch(b)
    assert restarted.alerts == uninterrupted.alerts[len(first.alerts):]
    assert restarted.state() == uninterrupted.state()
    assert sorted(restarted.loads) == sorted({r.partition for r in scored_records[committed_at:]})


def test_a_batch_whose_state_was_not_persisted_is_redone_with_the_same_alerts(
        scored_records: list[Any], uninterrupted: Worker) -> None:
    """The crash falls after the alerts were sent but before the state was written: the batch
    is done again and re-sends the same alerts (same ids: idempotent downstream)."""
    w = Worker()
    for b in batches(scored_records[:56]):
        w.batch(b)
    lost = w.batch(scored_records[56:63], persist=False)
    restarted = Worker(dict(w.table))
    again = restarted.batch(scored_records[56:63])
    assert again == lost
    for b in batches(scored_records[63:]):
        restarted.batch(b)
    assert restarted.state() == uninterrupted.state()
    ids = [a["alert_id"] for a in w.alerts + restarted.alerts]
    assert sorted(set(ids)) == sorted(a["alert_id"] for a in uninterrupted.alerts)


def test_revoked_partition_is_dropped_and_restored_on_reassignment(
        scored_records: list[Any], uninterrupted: Worker) -> None:
    w = Worker()
    for b in batches(scored_records[:80]):
        w.batch(b)
    held = sorted(w.step.partitions)
    assert held == list(range(PARTITIONS))
    w.step.revoke(1)
    assert sorted(w.step.partitions) == [0, 2] and w.step.held([0, 1, 2]) == [w.step.partitions[0],
                                                                             w.step.partitions[2]]
    assert w.step.take_writes([1]) == [] and w.step.sweep(1, NOW_US) == []
    loads = len(w.loads)
    for b in batches(scored_records[80:]):
        w.batch(b)
    assert w.loads[loads:] == [1]  # re-assigned: partition 1 restored from the table, once
    assert w.alerts == uninterrupted.alerts
    assert w.state() == uninterrupted.state()
