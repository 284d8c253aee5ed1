"""messageId dedup memory of one account, bounded.

Each recorded messageId keeps the account clock as it stood just after its
event was handled. A pair is forgotten once the account's clock at a later
check is more than `window_us` past it. Recorded clocks never decrease (the
account clock only moves forward), so the oldest pairs are always at the
front and forgetting is O(1) amortized.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class MessageMemory:
    ids: dict[str, int] = field(default_factory=dict)
    order: deque[tuple[int, str]] = field(default_factory=deque)

    def forget_before(self, clock_us: int, window_us: int) -> None:
        order, ids = self.order, self.ids
        while order and clock_us - order[0][0] > window_us:
            _, mid = order.popleft()
            del ids[mid]

    def seen(self, mid: str, clock_us: int, window_us: int) -> bool:
        """True if `mid` is remembered at account clock `clock_us`."""
        self.forget_before(clock_us, window_us)
        return mid in self.ids

    def record(self, mid: str, clock_us: int) -> None:
        if mid not in self.ids:
            self.ids[mid] = clock_us
            self.order.append((clock_us, mid))

    def dump(self) -> list[list[object]]:
        return [[mid, rec] for rec, mid in self.order]

    @classmethod
    def load(cls, data: list[list[object]]) -> MessageMemory:
        mem = cls()
        for mid, rec in data:
            assert isinstance(mid, str) and isinstance(rec, int)
            mem.record(mid, rec)
        return mem
