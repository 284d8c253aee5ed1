"""The explanation of a score: which events contributed, as weight x count in the window.

`NameCounts` keeps, per bucket of the model's window (`bucket_seconds`, `window_days`), how many
accepted events of each tracked name fell in it, and the per-name totals over the live buckets.
Only names that can matter are tracked (those with a non-zero weight, and the health events the
health score counts), so the state is bounded by W buckets x tracked names per account whatever
the account's traffic.

The same bucketed counts serve both score modes. In decay mode "in the window" means the last
`window_days` as window mode defines it (buckets > bucket(C) - W), so `top_events` lists
weight x count over that span, undecayed (docs/semantics.md#explanation).

Pruning is lazy: `prune(cut)` drops the buckets <= cut and is called before each reading.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class NameCounts:
    buckets: dict[int, dict[str, int]] = field(default_factory=dict)
    keys: list[int] = field(default_factory=list)  # bucket ids, ascending
    totals: dict[str, int] = field(default_factory=dict)

    def add(self, bucket: int, name: str) -> None:
        per = self.buckets.get(bucket)
        if per is None:
            per = self.buckets[bucket] = {}
            if not self.keys or bucket > self.keys[-1]:
                self.keys.append(bucket)
            else:
                insort(self.keys, bucket)
        per[name] = per.get(name, 0) + 1
        self.totals[name] = self.totals.get(name, 0) + 1

    def prune(self, cut: int) -> None:
        """Forget the buckets <= `cut` (out of the window)."""
        keys, totals = self.keys, self.totals
        while keys and keys[0] <= cut:
            for name, n in self.buckets.pop(keys.pop(0)).items():
                left = totals[name] - n
                if left:
                    totals[name] = left
                else:
                    del totals[name]

    def count(self, name: str) -> int:
        return self.totals.get(name, 0)

    def dump(self) -> list[Any]:
        return [[b, self.buckets[b]] for b in self.keys]

    @classmethod
    def load(cls, data: list[Any]) -> NameCounts:
        nc = cls()
        for b, per in data:
            nc.buckets[int(b)] = {str(k): int(v) for k, v in per.items()}
        nc.keys = sorted(nc.buckets)
        for per in nc.buckets.values():
            for name, n in per.items():
                nc.totals[name] = nc.totals.get(name, 0) + n
        return nc


def top_events(totals: dict[str, int], weights: dict[str, float], n: int) -> list[dict[str, Any]]:
    """The `n` events that moved the score most: points = weight x count in the window.

    Ordered by |points| descending, then by name; events with 0 points are left out. Each item is
    `{"event", "count", "points"}` (the alert's `top_events`).
    """
    rows = [(name, count, weights.get(name, 0.0) * count) for name, count in totals.items()]
    rows = [r for r in rows if r[2] != 0]
    rows.sort(key=lambda r: (-abs(r[2]), r[0]))
    return [{"event": name, "count": count, "points": points + 0.0}
            for name, count, points in rows[:n]]
