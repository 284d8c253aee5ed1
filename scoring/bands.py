"""Bands and hysteresis (docs/semantics.md#bands).

Bands are ordered at_risk < red < yellow < green < thriving (`Band`, whose
`rank` is that order; lower is worse). The scoring loop handles a band as its
index; `BAND_NAMES[i]` is the name and `BANDS[i]` the `Band`. With the default edges:
s < 0 at_risk; 0 <= s <= 40 red; 40 < s <= 70 yellow; 70 < s <= 100 green;
s > 100 thriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scoring.model import BandsConfig


class Band(StrEnum):
    """An account's band, declared worst first: the declaration order is the band order."""

    AT_RISK = "at_risk"
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    THRIVING = "thriving"

    @property
    def rank(self) -> int:
        """at_risk 0 < red 1 < yellow 2 < green 3 < thriving 4; lower is worse."""
        return _RANK[self]


BANDS: tuple[Band, ...] = tuple(Band)
BAND_NAMES: tuple[str, ...] = tuple(b.value for b in BANDS)
_RANK: dict[Band, int] = {b: i for i, b in enumerate(BANDS)}
AT_RISK, RED, YELLOW, GREEN, THRIVING = range(5)


@dataclass(frozen=True, slots=True)
class Edges:
    """A model's band edges as plain floats (what `base_band` reads on every evaluation; a
    pydantic model's attribute access is slower)."""

    at_risk_below: float
    red_max: float
    yellow_max: float
    green_max: float

    @classmethod
    def of(cls, b: BandsConfig) -> Edges:
        return cls(b.at_risk_below, b.red_max, b.yellow_max, b.green_max)


def base_band(s: float, b: Edges) -> int:
    """The band of score `s` without hysteresis."""
    if s < b.at_risk_below:
        return AT_RISK
    if s <= b.red_max:
        return RED
    if s <= b.yellow_max:
        return YELLOW
    if s <= b.green_max:
        return GREEN
    return THRIVING


def next_band(current: int | None, s: float, b: Edges, h: float) -> int:
    """The band after evaluating score `s` with current band `current`.

    First evaluation (`current` None): `base(s)`. Otherwise, with
    `base(s) != current`, the band becomes `base(s)` only if `base(s - h)` is
    above `current` (moving up) or `base(s + h)` is below it (moving down);
    otherwise it stays.
    """
    new = base_band(s, b)
    if current is None or new == current:
        return new
    if base_band(s - h, b) > current or base_band(s + h, b) < current:
        return new
    return current
