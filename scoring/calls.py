"""What one record of telemetry becomes: `Event` (a valid call, ids as strings, its event time),
`Rejected` (an invalid one, with its reason code and bytes), `ScoredEvent` (a scored call with its
account, the form the `scored` topic carries), and who a call speaks for (`sender_of`,
`resolve_account`). `scoring.events` builds them; see docs/semantics.md for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

EMPTY: dict[str, Any] = {}  # the shared "absent object" (context, properties, traits); never mutated
SCORED_TYPES = frozenset({"track", "page", "screen"})


class Event:
    """One valid Segment call (ids normalized to strings, `ts_us` its event time).

    A plain class with `__slots__` and its own `__init__` (Event and ScoredEvent are built once
    per event: compiled by mypyc, such a class is cheaper to build than a NamedTuple or a
    dataclass, whose generated methods stay Python). Treat it as immutable.
    """

    __slots__ = ("anonymous_id", "context", "group_id", "hint", "message_id", "name",
                 "properties", "traits", "ts_us", "type", "user_id")

    def __init__(self, type: str, ts_us: int, name: str | None = None, user_id: str | None = None,
                 anonymous_id: str | None = None, message_id: str | None = None,
                 group_id: str | None = None, context: dict[str, Any] | None = None,
                 properties: dict[str, Any] | None = None,
                 traits: dict[str, Any] | None = None, hint: str | None = None) -> None:
        self.type = type
        self.ts_us = ts_us
        self.name = name
        self.user_id = user_id
        self.anonymous_id = anonymous_id
        self.message_id = message_id
        self.group_id = group_id
        self.context: dict[str, Any] = EMPTY if context is None else context
        self.properties: dict[str, Any] = EMPTY if properties is None else properties
        self.traits: dict[str, Any] = EMPTY if traits is None else traits
        # the account named by the call itself: context.groupId, else properties.accountId
        self.hint = hint

    @property
    def scored(self) -> bool:
        return self.type in SCORED_TYPES

    def _key(self) -> tuple[object, ...]:
        return (self.type, self.ts_us, self.name, self.user_id, self.anonymous_id, self.message_id,
                self.group_id, self.context, self.properties, self.traits, self.hint)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"Event{self._key()!r}"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One invalid event: a reason code, a human detail, the original message bytes."""

    reason: str
    detail: str
    raw: bytes


class ScoredEvent:
    """A scored event with its account resolved: what crosses the account-keyed topic.
    (A plain class for the reason given on `Event`; treat it as immutable.)"""

    __slots__ = ("account", "message_id", "name", "properties", "ts_us")

    def __init__(self, account: str, name: str, ts_us: int, message_id: str | None = None,
                 properties: dict[str, Any] | None = None) -> None:
        self.account = account
        self.name = name
        self.ts_us = ts_us
        self.message_id = message_id
        self.properties: dict[str, Any] = EMPTY if properties is None else properties

    def _key(self) -> tuple[object, ...]:
        return (self.account, self.name, self.ts_us, self.message_id, self.properties)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScoredEvent) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"ScoredEvent{self._key()!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.account, "n": self.name, "t": self.ts_us, "m": self.message_id,
                "p": self.properties or None}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> ScoredEvent:
        d = orjson.loads(data)
        return cls(d["a"], d["n"], d["t"], d["m"], d["p"] or {})


def resolve_account(ev: Event, user_accounts: Any) -> str | None:
    """The account of a scored event, in the spec's order, or None.

    `context.groupId`, else `properties.accountId` (both in `ev.hint`), else the latest `group`
    call's `groupId` from the event's sender (`user_accounts.get(sender)`; the sender is the
    `userId`, else the `anonymousId`), else the sender itself.
    """
    if ev.hint is not None:
        return ev.hint
    sender = ev.user_id if ev.user_id is not None else ev.anonymous_id
    if sender is None:
        return None
    mapped = user_accounts.get(sender)
    return str(mapped) if mapped else sender


def sender_of(ev: Event) -> str | None:
    """The id a call speaks for (and the `events` topic is keyed by): `userId`, else `anonymousId`."""
    return ev.user_id if ev.user_id is not None else ev.anonymous_id
