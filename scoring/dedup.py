"""messageId dedup memory of one account, bounded (the rule: docs/semantics.md#dedup).

Each recorded messageId keeps the account clock as it stood just after its
event was handled. A pair is forgotten once the account's clock at a later
check is more than `window_us` past it; a duplicate does not refresh it.

Recorded clocks never decrease (the account clock only moves forward). The
memory is two generations of pairs: `cur`, started at clock `start`, and `prev`,
the generation before it. When a pair is recorded more than `window_us` after
`start`, every pair in `prev` (all recorded at or before `start`) is stale for
good: `prev` is dropped, `cur` becomes `prev` and a new `cur` starts. So
forgetting costs nothing per event (no per-pair queue), and the memory holds at
most the pairs recorded within the last two windows of the account's clock. A
pair that is stale but not yet dropped is never reported as a duplicate
(`is_duplicate` checks the age); `cur` is looked up first, it holds the newest
pair of a messageId.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MessageMemory:
    cur: dict[str, int] = field(default_factory=dict)
    prev: dict[str, int] = field(default_factory=dict)
    start: int = 0  # the clock at which `cur` started (meaningless while `cur` is empty)

    def __len__(self) -> int:
        return len(self.cur) + len(self.prev)

    def is_duplicate(self, mid: str, clock_us: int, window_us: int) -> bool:
        """True if `mid` is remembered at account clock `clock_us`."""
        rec = self.cur.get(mid)
        if rec is None:
            rec = self.prev.get(mid)
            if rec is None:
                return False
        return clock_us - rec <= window_us

    def record(self, mid: str, clock_us: int, window_us: int) -> None:
        """Remember `mid` (not a duplicate now) with the account clock just after its event."""
        cur = self.cur
        if not cur:
            self.start = clock_us
        elif clock_us - self.start > window_us:
            self.prev = cur
            self.cur = cur = {}
            self.start = clock_us
        cur[mid] = clock_us

    def dump(self, forget_before: int | None = None) -> list[list[object]]:
        """The pairs, oldest first (a messageId may appear twice: its newest pair is last),
        without those recorded before `forget_before` (the account clock minus the window: stale
        for good, since the clock only moves forward)."""
        return [[mid, rec] for gen in (self.prev, self.cur) for mid, rec in gen.items()
                if forget_before is None or rec >= forget_before]

    @classmethod
    def load(cls, data: list[list[object]]) -> MessageMemory:
        mem = cls()
        for mid, rec in data:
            assert isinstance(mid, str) and isinstance(rec, int)
            if not mem.cur:
                mem.start = rec
            mem.cur[mid] = rec
        return mem
