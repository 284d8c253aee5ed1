"""Decay mode: score(t) = sum of w_i * 2^(-(t - t_i) / half_life) over accepted events.

The rule: docs/semantics.md#decay.

State per account is (score, ref): the score as of time `ref` (the latest
accepted event time). An in-order event decays the score to its time and adds
its weight; an out-of-order one is added with its own decay. There are no late
events in decay mode. `value_at(C)` decays the score from `ref` to C without
changing the state, so sweeps write nothing unless a band changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.model import ScoreConfig


@dataclass(slots=True)
class DecayState:
    score: float = 0.0
    ref: int | None = None

    def dump(self) -> list[object]:
        return [self.score, self.ref]

    @classmethod
    def load(cls, data: list[object]) -> DecayState:
        score, ref = data
        assert isinstance(score, int | float) and (ref is None or isinstance(ref, int))
        return cls(float(score), ref)


class DecayRule:
    __slots__ = ("half_life_us",)

    def __init__(self, cfg: ScoreConfig) -> None:
        self.half_life_us = cfg.half_life_us

    def new(self) -> DecayState:
        return DecayState()

    def is_late(self, clock_us: int, ts_us: int) -> bool:
        return False

    def add(self, st: DecayState, ts_us: int, weight: float) -> None:
        if st.ref is None:
            st.score, st.ref = weight, ts_us
        elif ts_us >= st.ref:
            st.score = st.score * 2.0 ** (-(ts_us - st.ref) / self.half_life_us) + weight
            st.ref = ts_us
        else:
            st.score += weight * 2.0 ** (-(st.ref - ts_us) / self.half_life_us)

    def accept(self, st: DecayState, ts_us: int, weight: float, clock_us: int) -> bool:
        self.add(st, ts_us, weight)
        return False

    def expires_at(self, st: DecayState) -> int | None:
        return None

    def prune(self, st: DecayState, clock_us: int) -> bool:
        return False

    def value_at(self, st: DecayState, clock_us: int) -> float:
        if st.ref is None or clock_us == st.ref:
            return st.score
        factor: float = 2.0 ** (-(clock_us - st.ref) / self.half_life_us)
        return st.score * factor
