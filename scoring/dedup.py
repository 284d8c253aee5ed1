"""messageId dedup memory of one account, bounded.

Each recorded messageId keeps the account clock as it stood just after its
event was handled. A pair is forgotten once the account's clock at a later
check is more than `window_us` past it; a duplicate does not refresh it.

Recorded clocks never decrease (the account clock only moves forward), so the
oldest pairs are always at the front of `order`: forgetting is O(1) amortized
and happens when a new pair is recorded. A pair that is already stale but not
yet dropped is never reported as a duplicate (`is_duplicate` checks the age).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class MessageMemory:
    ids: dict[str, int] = field(default_factory=dict)
    order: deque[tuple[int, str]] = field(default_factory=deque)

    def is_duplicate(self, mid: str, clock_us: int, window_us: int) -> bool:
        """True if `mid` is remembered at account clock `clock_us`."""
        rec = self.ids.get(mid)
        return rec is not None and clock_us - rec <= window_us

    def record(self, mid: str, clock_us: int, window_us: int) -> None:
        """Remember `mid` with the account clock just after its event was handled."""
        order, ids = self.order, self.ids
        while order and clock_us - order[0][0] > window_us:
            del ids[order.popleft()[1]]
        if mid not in ids:
            ids[mid] = clock_us
            order.append((clock_us, mid))

    def dump(self) -> list[list[object]]:
        return [[mid, rec] for rec, mid in self.order]

    @classmethod
    def load(cls, data: list[list[object]]) -> MessageMemory:
        mem = cls()
        for mid, rec in data:
            assert isinstance(mid, str) and isinstance(rec, int)
            mem.ids[mid] = rec
            mem.order.append((rec, mid))
        return mem
