"""Window mode: a bucketed rolling sum (docs/semantics.md#window).

`bucket(ts) = floor(ts / bucket_seconds)`; the score at clock C is the sum of
the weights of accepted events whose bucket is > bucket(C) - W. An event whose
bucket is <= bucket(C) - W when it arrives is late.

State per account: the live bucket ids in order (at most W), their summed
weights in the same order, and their running total: O(1) amortized work per event
whatever the account's history. Expired buckets are pruned when the state is
touched; `value_at` never needs them pruned.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from scoring.model import ScoreConfig


@dataclass(slots=True)
class WindowState:
    keys: list[int] = field(default_factory=list)  # the live buckets' ids, ascending
    sums: list[float] = field(default_factory=list)  # their summed weights, same order
    total: float = 0.0

    def dump(self) -> list[object]:
        return [[[b, v] for b, v in zip(self.keys, self.sums, strict=True)], self.total]

    @classmethod
    def load(cls, data: list[object]) -> WindowState:
        pairs, total = data
        assert isinstance(pairs, list) and isinstance(total, int | float)
        buckets = {int(b): float(v) for b, v in pairs}
        keys = sorted(buckets)
        return cls(keys, [buckets[b] for b in keys], float(total))


class WindowRule:
    """The window arithmetic for one model; the state is plain data."""

    __slots__ = ("bucket_us", "w")

    def __init__(self, cfg: ScoreConfig) -> None:
        self.bucket_us = cfg.bucket_us
        self.w = cfg.window_buckets

    def new(self) -> WindowState:
        return WindowState()

    def is_late(self, clock_us: int, ts_us: int) -> bool:
        bucket_us = self.bucket_us
        return ts_us // bucket_us <= clock_us // bucket_us - self.w

    def add(self, st: WindowState, ts_us: int, weight: float) -> None:
        """Add an accepted (not late) event."""
        b = ts_us // self.bucket_us
        keys = st.keys
        if keys and b == keys[-1]:  # the common case: the account's newest bucket
            st.sums[-1] += weight
        elif not keys or b > keys[-1]:
            keys.append(b)
            st.sums.append(weight)
        else:
            i = bisect_left(keys, b)
            if keys[i] == b:
                st.sums[i] += weight
            else:
                keys.insert(i, b)
                st.sums.insert(i, weight)
        st.total += weight

    def accept(self, st: WindowState, ts_us: int, weight: float, clock_us: int) -> bool:
        """Add an accepted event, then drop what the account's (moved) clock leaves behind.
        True if the earliest expiry changed (the sweep must be told)."""
        keys = st.keys
        first = keys[0] if keys else None
        self.add(st, ts_us, weight)
        self.prune(st, clock_us)
        return (keys[0] if keys else None) != first

    def expires_at(self, st: WindowState) -> int | None:
        """The earliest clock at which some present bucket is out of the window."""
        return (st.keys[0] + self.w) * self.bucket_us if st.keys else None

    def prune(self, st: WindowState, clock_us: int) -> bool:
        """Drop buckets out of the window at `clock_us`; True if any was dropped."""
        keys = st.keys
        cut = clock_us // self.bucket_us - self.w
        if not keys or keys[0] > cut:
            return False
        i = bisect_right(keys, cut)
        del keys[:i]
        sums = st.sums
        del sums[:i]
        st.total = sum(sums, 0.0)
        return True

    def value_at(self, st: WindowState, clock_us: int) -> float:
        keys = st.keys
        cut = clock_us // self.bucket_us - self.w
        if not keys or keys[0] > cut:
            return st.total
        return sum(st.sums[bisect_right(keys, cut):], 0.0)
