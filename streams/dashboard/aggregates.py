"""Portfolio totals kept up to date on every upsert, so the portfolio page costs O(values), not
a pass over every account: accounts per engagement and health band, MRR per band, the score
histogram (the report's bins: `streams.offline.report.histogram_edges`) and, per indexed trait
key, accounts per value and band.

`Row` is what one account contributes; `move(old, new)` takes the old contribution out and puts
the new one in (`old` None for an account scored for the first time).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

N_BANDS = 5
NO_HEALTH = N_BANDS  # the health totals' last slot: accounts without a health band yet


@dataclass(frozen=True, slots=True)
class Row:
    band: int
    hband: int  # -1: none yet
    mrr: float  # NaN: no MRR (no subscription event, no mrr trait)
    mrr_src: int  # streams.dashboard.model.MRR_SOURCES index
    bin: int
    traits: tuple[tuple[str, int], ...]  # (indexed key, value id) for the keys the account has


@dataclass
class Aggregates:
    edges: list[float]
    eng: list[int] = field(default_factory=lambda: [0] * N_BANDS)
    health: list[int] = field(default_factory=lambda: [0] * (N_BANDS + 1))
    mrr: list[float] = field(default_factory=lambda: [0.0] * N_BANDS)
    with_mrr: int = 0
    mrr_src: list[int] = field(default_factory=lambda: [0] * 4)  # accounts per MRR source
    hist: list[int] = field(default_factory=list)
    by_trait: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # key -> value id -> bands

    def __post_init__(self) -> None:
        self.hist = [0] * (len(self.edges) + 1)

    def bin_of(self, score: float) -> int:
        return bisect_right(self.edges, score)

    def _apply(self, r: Row, sign: int) -> None:
        self.eng[r.band] += sign
        self.health[NO_HEALTH if r.hband < 0 else r.hband] += sign
        if r.mrr == r.mrr:
            self.mrr[r.band] += sign * r.mrr
            self.with_mrr += sign
            self.mrr_src[r.mrr_src] += sign
        self.hist[r.bin] += sign
        for key, vid in r.traits:
            per = self.by_trait.setdefault(key, {})
            counts = per.get(vid)
            if counts is None:
                counts = per[vid] = [0] * N_BANDS
            counts[r.band] += sign
            if sign < 0 and not any(counts):
                del per[vid]

    def move(self, old: Row | None, new: Row) -> None:
        if old is not None:
            self._apply(old, -1)
        self._apply(new, +1)
