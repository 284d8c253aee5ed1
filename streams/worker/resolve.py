"""The resolve step: raw event records (keyed by user) -> scored items (by account) + dead letters.

Plain code, no Faust: the `resolve` agent (`streams.worker.agents`) hands it each batch of
`events` records and moves its outputs to Kafka. For every record, in order:

1. parse it with the pure core (`scoring.events.parse_message`: a record may hold a batch
   envelope of several events; the future-skew check uses the batch's wall clock `now_us`);
2. route each event (`scoring.engine.Resolver`): a `group` call maps its user to the account in
   the user -> account table (`UserMap`) and may carry account traits; a scored event gets its
   account (context.groupId, properties.accountId, the user's mapping, userId, anonymousId);
3. a scored event, or a `group` call's traits, becomes an item of the `scored` partition of its
   account (Kafka's default partitioner on the account, so that partition's score step owns it);
   a rejected event becomes a dead letter with the record's bytes, reason and offset.

The user -> account writes are held in the `UserMap` with the source partition they belong to
(the table is co-partitioned with `events`) until the agent persists them after the batch's
outputs are on the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka.partitioner import murmur2

from scoring.calls import Event, Rejected
from scoring.engine import Resolver
from scoring.events import parse_message
from streams.worker.partition_state import traits_item
from streams.worker.records import dead_letter


class SourceRecord(Protocol):
    """What a step reads of a Kafka record (a Faust `Message` has these attributes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class AccountPartitioner:
    """The `scored` partition of an account: Kafka's default (murmur2) partitioner, memoized."""

    def __init__(self, partitions: int, cache_size: int = 2_000_000) -> None:
        self.partitions, self.cache_size = partitions, cache_size
        self.cache: dict[str, int] = {}

    def __call__(self, account: str) -> int:
        p = self.cache.get(account)
        if p is None:
            if len(self.cache) > self.cache_size:
                self.cache.clear()
            p = self.cache[account] = (murmur2(account.encode()) & 0x7FFFFFFF) % self.partitions
        return p


Lookup = Callable[[int, str], "str | None"]


class UserMap(MutableMapping[str, str]):
    """The user -> account table as the `Resolver` sees it: reads through `lookup(partition,
    user)` with a cache, writes held (with the source partition of the record that made them)
    until `take_writes()`. `partition` is the partition of the record being resolved."""

    def __init__(self, lookup: Lookup, cache_size: int = 1_000_000) -> None:
        self.lookup, self.cache_size = lookup, cache_size
        self.partition = 0
        self.cache: dict[str, str] = {}
        self.pending: dict[str, tuple[int, str]] = {}

    def __getitem__(self, user: str) -> str:
        hit = self.cache.get(user)
        if hit is not None:
            return hit
        held = self.pending.get(user)
        if held is not None:
            return held[1]
        account = self.lookup(self.partition, user)
        if account is None:
            raise KeyError(user)
        return self._remember(user, account)

    def _remember(self, user: str, account: str) -> str:
        if len(self.cache) >= self.cache_size:
            self.cache.clear()
        self.cache[user] = account
        return account

    def __setitem__(self, user: str, account: str) -> None:
        held = self.pending.get(user)
        if (held[1] if held is not None else self.cache.get(user)) == account:
            return  # the same mapping again (a repeated group call): nothing to write
        self._remember(user, account)
        self.pending[user] = (self.partition, account)

    def take_writes(self) -> list[tuple[int, str, str]]:
        """The (source partition, user, account) writes since the last call, in order."""
        pending, self.pending = self.pending, {}
        return [(p, user, account) for user, (p, account) in pending.items()]

    def __delitem__(self, user: str) -> None:
        raise TypeError("the user -> account table is only ever written, never deleted from")

    def __iter__(self) -> Iterator[str]:  # the Resolver only reads and writes single keys
        raise TypeError("the user -> account table is not iterated by the resolve step")

    def __len__(self) -> int:
        raise TypeError("the user -> account table is not counted by the resolve step")


@dataclass
class ResolvedBatch:
    """What one batch of `events` records became."""

    scored: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # partition -> items
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)  # (key, value)
    invalid: dict[str, int] = field(default_factory=dict)  # rejections by reason code


class ResolveStep:
    """Resolves batches of raw records; owns the `Resolver` and its user map."""

    def __init__(self, users: UserMap, partition_of: Callable[[str], int],
                 max_future_skew_us: int) -> None:
        self.users, self.partition_of, self.skew_us = users, partition_of, max_future_skew_us
        self.resolver = Resolver(users, account_traits={})

    def batch(self, records: Iterable[SourceRecord], now_us: int) -> ResolvedBatch:
        """Parse, route and partition every event of `records`; `now_us` is the wall clock."""
        out = ResolvedBatch()
        scored, invalid, dead = out.scored, out.invalid, out.dead_letters
        now_iso = datetime.fromtimestamp(now_us // 1_000_000, UTC).replace(
            microsecond=now_us % 1_000_000).isoformat()
        resolver, users, partition_of = self.resolver, self.users, self.partition_of
        for msg in records:
            users.partition = msg.partition
            raw = msg.value or b""
            for item in parse_message(raw, now_us=now_us, max_future_skew_us=self.skew_us):
                routed = item if isinstance(item, Rejected) else resolver.route(item)
                if isinstance(routed, Rejected):
                    invalid[routed.reason] = invalid.get(routed.reason, 0) + 1
                    dead.append((msg.key, dead_letter(
                        reason=routed.reason, detail=routed.detail, raw=raw, topic=msg.topic,
                        partition=msg.partition, offset=msg.offset, key=msg.key, now_iso=now_iso)))
                elif routed is not None:
                    scored.setdefault(partition_of(routed.account), []).append(routed.to_dict())
                elif isinstance(item, Event) and item.type == "group" and item.traits:
                    assert item.group_id is not None
                    scored.setdefault(partition_of(item.group_id), []).append(
                        traits_item(item.group_id, item.traits))
            resolver.account_traits.clear()
        return out
