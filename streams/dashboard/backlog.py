"""What the dashboard still has to derive, and how much CPU it may spend on it (pure: pass `now` in).

The account-state changelog is a last-value-wins table: only an account's newest record says
anything. So the follower does not derive records as they arrive; it files them in a `Backlog`
(the newest raw value per account, in the order the accounts first changed) and a derive loop
takes from its head. A burst that writes an account ten times costs one derivation, and the
oldest change is always the next one derived, so no account waits behind a busier one.

How fast the dashboard reads and derives is set by a `CpuBudget`: while the worker is writing (the
changelog's end moved within the last second or so) it may spend `share` of one core on reading
and deriving; when the worker is quiet it works at full speed and catches up. The backlog's size and
the age of its oldest change are what the dashboard shows as how far behind it is.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


class Backlog:
    """Changelog rows not derived yet: per key the newest value, keys in first-change order."""

    def __init__(self) -> None:
        self._rows: OrderedDict[bytes, bytes | None] = OrderedDict()
        self._since: dict[bytes, float] = {}
        self.metas: dict[bytes, bytes] = {}  # partition meta records: the newest per key
        self.received = 0  # account rows filed
        self.coalesced = 0  # of them, rows that replaced a pending row of the same account

    def add(self, key: bytes, value: bytes | None, now: float) -> None:
        """File a row; a pending row of the same key is replaced and keeps its place (and age)."""
        self.received += 1
        if key in self._rows:
            self.coalesced += 1
        else:
            self._since[key] = now
        self._rows[key] = value

    def add_meta(self, key: bytes, value: bytes) -> None:
        self.metas[key] = value

    def take_metas(self) -> list[bytes]:
        metas, self.metas = list(self.metas.values()), {}
        return metas

    def take(self) -> tuple[bytes, bytes | None]:
        """The row whose account changed first (KeyError when empty)."""
        key, value = self._rows.popitem(last=False)
        del self._since[key]
        return key, value

    def __len__(self) -> int:
        return len(self._rows)

    def oldest_age(self, now: float) -> float:
        """Seconds since the oldest pending change was filed (0.0 when nothing is pending)."""
        if not self._rows:
            return 0.0
        return max(0.0, now - self._since[next(iter(self._rows))])

    def ready(self, now: float, delay: float) -> bool:
        """Whether the head row has waited at least `delay` seconds (the coalescing window)."""
        return bool(self._rows) and now - self._since[next(iter(self._rows))] >= delay


@dataclass
class CpuBudget:
    """A token bucket of CPU seconds: fills at `share` CPU seconds per wall second, holds at most
    `burst`; spending may overdraw it (a derivation is not cut in half), the debt is paid first.
    Only what is spent while the source is busy counts."""

    share: float  # of one core, while the source is busy (1.0: no limit)
    burst: float = 0.2
    tokens: float = 0.0
    _last: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], not {self.share}")

    def available(self, now: float, busy: bool) -> float:
        """CPU seconds that may be spent now: the bucket while busy, unlimited when quiet."""
        if self._last is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self._last) * self.share)
        self._last = now
        if not busy or self.share >= 1.0:
            self.tokens = max(self.tokens, 0.0)  # a quiet spell forgives a debt
            return math.inf
        return max(0.0, self.tokens)

    def spend(self, cpu_s: float, busy: bool) -> None:
        """Count CPU spent; what is spent while the source is quiet is not counted."""
        if busy and self.share < 1.0:
            self.tokens -= cpu_s
