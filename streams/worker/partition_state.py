"""The score agent's state for one partition of the account-keyed `scored` topic.

A `scored` record holds a list of items, in order: scored events (`ScoredEvent.to_json` form)
and account traits; the resolve agent batches them per target partition, so per-record costs
are paid once per batch. An item's position is `offset * 2**20 + index`.

It wraps the pure core's `Scorer` (one per partition, so the sweep runs per partition exactly
as in `pulse replay`) with what the runtime needs for at-least-once delivery with idempotent
effects:

- `last_offset`: the position of the last `scored` item folded into the partition's meta state;
- per account, the position of the last event applied to it: after a crash, a redelivered event
  that its account already holds only moves the stream clock (and sweeps), it is not counted
  twice; sweeps and dedup records are idempotent by themselves;
- account traits from `group` calls (for alerts).

Table layout (one RocksDB table, raw bytes, changelog partition = source partition):
    key account          -> orjson [partition, offset, account_state, traits]
    key "\\x00meta:<p>"  -> orjson {"p", "offset", "scorer": Scorer.dump_meta()}
    key "\\x00meta:model" -> orjson {"fingerprint", "model": the model's JSON}: the model the
                            worker scores with, written in each partition's first batch after
                            the state is built, so `pulse scores export` reads the same model
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from scoring.calls import ScoredEvent
from scoring.engine import Change, Scorer
from scoring.model import Model, model_fingerprint, model_from_json, model_json

META_PREFIX = b"\x00meta:"
MODEL_KEY = META_PREFIX + b"model"


def model_record(model: Model) -> bytes:
    return orjson.dumps({"fingerprint": model_fingerprint(model), "model": model_json(model).decode()})


def read_model_record(value: bytes) -> tuple[str, Model]:
    """(fingerprint, model) of a `MODEL_KEY` value."""
    d = orjson.loads(value)
    return d["fingerprint"], model_from_json(d["model"])


def meta_key(partition: int) -> bytes:
    return META_PREFIX + str(partition).encode()


ITEMS_PER_RECORD = 1 << 20


def traits_item(account: str, traits: dict[str, Any]) -> dict[str, Any]:
    """A `scored` item carrying account traits (not an event: it moves no clock)."""
    return {"k": "traits", "a": account, "t": traits}


class PartitionState:
    def __init__(self, partition: int, model: Model, sweep_seconds: int) -> None:
        self.partition = partition
        self.model = model
        self._model_written = False
        self.scorer = Scorer(model, sweep_seconds)
        self.last_offset = -1
        self.offsets: dict[str, int] = {}
        self.traits: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()

    @classmethod
    def restore(cls, partition: int, model: Model, sweep_seconds: int,
                items: Iterable[tuple[bytes, bytes]]) -> PartitionState:
        """Rebuild from the table's (key, value) pairs; pairs of other partitions are skipped."""
        st = cls(partition, model, sweep_seconds)
        meta: dict[str, Any] | None = None
        accounts: dict[str, list[Any]] = {}
        mine = meta_key(partition)
        for key, value in items:
            if key.startswith(META_PREFIX):
                if key == mine:
                    meta = orjson.loads(value)
                continue
            p, offset, state, traits = orjson.loads(value)
            if p != partition:
                continue
            account = key.decode()
            st.offsets[account] = offset
            if state is not None:
                accounts[account] = state
            if traits:
                st.traits[account] = traits
        st.scorer.load(meta["scorer"] if meta else None, accounts)
        st.last_offset = meta["offset"] if meta else -1
        return st

    def apply(self, offset: int, value: bytes) -> list[Change]:
        """Fold one `scored` record in; returns the band changes it caused (sweeps first)."""
        items = orjson.loads(value)
        changes: list[Change] = []
        base = offset * ITEMS_PER_RECORD
        for i, item in enumerate(items if isinstance(items, list) else [items]):
            self._apply_item(base + i, item, changes)
        return changes

    def _apply_item(self, pos: int, d: dict[str, Any], changes: list[Change]) -> None:
        if pos <= self.last_offset:
            return
        self.last_offset = pos
        if d.get("k") == "traits":
            account = d["a"]
            known = self.traits.get(account, {})
            merged = {**known, **d["t"]}
            if merged != known:  # a repeated group call (most are) writes nothing
                self.traits[account] = merged
                self._dirty.add(account)
            return
        ev = ScoredEvent(d["a"], d["n"], d["t"], d["m"], d["p"] or {})
        if pos <= self.offsets.get(ev.account, -1):  # redelivered, already applied before a crash
            self.scorer.advance_stream(ev.ts_us, changes)
            return
        changes.extend(self.scorer.handle(ev).changes)
        self.offsets[ev.account] = pos

    def take_writes(self) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs to persist after a batch: changed accounts, then the meta."""
        dirty = self.scorer.take_dirty() | self._dirty
        self._dirty = set()
        accounts = self.scorer.accounts
        writes = []
        for account in sorted(dirty):
            acct = accounts.get(account)
            writes.append((account.encode(), orjson.dumps([
                self.partition, self.offsets.get(account, -1),
                self.scorer.dump_account(account) if acct else None,
                self.traits.get(account)])))
        if not self._model_written:
            writes.append((MODEL_KEY, model_record(self.model)))
            self._model_written = True
        writes.append((meta_key(self.partition), orjson.dumps(
            {"p": self.partition, "offset": self.last_offset, "scorer": self.scorer.dump_meta()})))
        return writes
