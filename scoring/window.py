"""Window mode: a bucketed rolling sum.

`bucket(ts) = floor(ts / bucket_seconds)`; the score at clock C is the sum of
the weights of accepted events whose bucket is > bucket(C) - W. An event whose
bucket is <= bucket(C) - W when it arrives is late.

State per account is a dict of bucket -> summed weight (at most W live
buckets), its running total and its lowest bucket: O(1) amortized work per
event whatever the account's history. Expired buckets are pruned when the
state is touched; `value_at` never needs them pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.model import ScoreConfig


@dataclass(slots=True)
class WindowState:
    buckets: dict[int, float] = field(default_factory=dict)
    total: float = 0.0
    lo: int | None = None  # lowest bucket present (maybe expired, not yet pruned)

    def dump(self) -> list[object]:
        return [[[b, v] for b, v in self.buckets.items()], self.total]

    @classmethod
    def load(cls, data: list[object]) -> WindowState:
        pairs, total = data
        assert isinstance(pairs, list) and isinstance(total, int | float)
        buckets = {int(b): float(v) for b, v in pairs}
        return cls(buckets, float(total), min(buckets) if buckets else None)


class WindowRule:
    """The window arithmetic for one model; the state is plain data."""

    __slots__ = ("bucket_us", "w")

    def __init__(self, cfg: ScoreConfig) -> None:
        self.bucket_us = cfg.bucket_us
        self.w = cfg.window_buckets

    def new(self) -> WindowState:
        return WindowState()

    def cutoff(self, clock_us: int) -> int:
        """Buckets <= this are outside the window at `clock_us`."""
        return clock_us // self.bucket_us - self.w

    def is_late(self, clock_us: int, ts_us: int) -> bool:
        return ts_us // self.bucket_us <= self.cutoff(clock_us)

    def add(self, st: WindowState, ts_us: int, weight: float) -> None:
        """Add an accepted (not late) event."""
        b = ts_us // self.bucket_us
        st.buckets[b] = st.buckets.get(b, 0.0) + weight
        st.total += weight
        if st.lo is None or b < st.lo:
            st.lo = b

    def expires_at(self, st: WindowState) -> int | None:
        """The earliest clock at which some present bucket is out of the window."""
        return None if st.lo is None else (st.lo + self.w) * self.bucket_us

    def prune(self, st: WindowState, clock_us: int) -> bool:
        """Drop buckets out of the window at `clock_us`; True if any was dropped."""
        cut = self.cutoff(clock_us)
        if st.lo is None or st.lo > cut:
            return False
        st.buckets = {b: v for b, v in st.buckets.items() if b > cut}
        st.total = sum(st.buckets.values())
        st.lo = min(st.buckets) if st.buckets else None
        return True

    def value_at(self, st: WindowState, clock_us: int) -> float:
        cut = self.cutoff(clock_us)
        if st.lo is None or st.lo > cut:
            return st.total
        return sum(v for b, v in st.buckets.items() if b > cut)
