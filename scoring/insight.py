"""The scorer's collaborator for everything beyond the engagement band: trend, explanation,
health score and signals. It exists only when the model has `[explain]` or `[health]`; a model
without them keeps no extra state and pays nothing on the hot path.

Per account it keeps an `Extra`: window name counts (scoring/explain.py), daily trend rings
(scoring/trend.py) for engagement and health, the health inputs (scoring/health.py) and a few
flags. `Scorer` calls it at two points:

- `accept(extra, event, clock)` for each accepted event: counts, health inputs, and the event's
  signals (scoring/signals.py), which are returned and raised after the evaluation;
- `evaluate(...)` after each engagement band evaluation (event, sweep, end): records the trend,
  evaluates the health band, and raises sharp-drop / onboarding / event signals.

Health band changes and signals come back as `Change`s with `kind` "health" (sharp drops of the
engagement score: "engagement") and `reason` set for signals; each carries its explanation in
`Change.explain` (JSON-ready): `score_7d_ago`, `delta_7d`, `top_events`, and for health
`components`, `weakest_component`, `tickets` (subjects of the support tickets in the window)
and `time_to_aha_s`; for signals also `detail`. A signal's `from` and `to` are the score's
current band (signals do not move bands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scoring.bands import BAND_NAMES, Edges, next_band
from scoring.calls import ScoredEvent
from scoring.change import Cause, Change
from scoring.explain import NameCounts, top_events
from scoring.health import (
    TICKET_EVENT,
    HealthState,
    combine,
    components,
    observe,
    prune_tickets,
    time_to_aha_us,
    weakest,
)
from scoring.model import Model
from scoring.signals import Reason, event_signals, onboarding_stalled, stall_deadline
from scoring.trend import DAY_US, Trend

ENG_DROP, HEALTH_DROP, STALLED = 1, 2, 4  # Extra.flags bits
Signals = list[tuple[str, dict[str, Any]]]


@dataclass(slots=True)
class Extra:
    counts: NameCounts = field(default_factory=NameCounts)
    trend: Trend = field(default_factory=Trend)
    health_trend: Trend = field(default_factory=Trend)
    health: HealthState | None = None
    flags: int = 0

    def dump(self) -> list[Any]:
        return [self.counts.dump(), self.trend.dump(), self.health_trend.dump(),
                None if self.health is None else self.health.dump(), self.flags]

    @classmethod
    def load(cls, data: list[Any]) -> Extra:
        counts, trend, htrend, health, flags = data
        return cls(NameCounts.load(counts), Trend.load(trend), Trend.load(htrend),
                   None if health is None else HealthState.load(health), flags)


class Insight:
    def __init__(self, model: Model) -> None:
        cfg = model.explain_config
        assert cfg is not None
        self.cfg = cfg
        self.health = model.health
        self.weights = model.weights
        self.bands = Edges.of(model.bands)
        self.hysteresis = model.score.hysteresis
        self.bucket_us = model.score.bucket_us
        self.w = model.score.window_buckets
        self.tracked = {n for n, w in model.weights.items() if w}
        if self.health is not None:
            self.tracked.add(TICKET_EVENT)

    def new(self) -> Extra:
        return Extra(health=None if self.health is None else HealthState())

    def _cut(self, clock: int) -> int:
        return clock // self.bucket_us - self.w

    # -- events ---------------------------------------------------------------
    def accept(self, x: Extra, ev: ScoredEvent, clock: int) -> Signals:
        """Fold an accepted event in (the account's clock already moved); its signals."""
        name = ev.name
        bucket = ev.ts_us // self.bucket_us
        if name in self.tracked and bucket > self._cut(clock):
            x.counts.add(bucket, name)
        if self.health is None or x.health is None:
            return []
        observe(x.health, self.health, name, ev.ts_us, ev.properties)
        return event_signals(self.health, name, ev.properties)

    def due_at(self, x: Extra) -> int | None:
        """When a silent account must be evaluated besides its window expiry (window mode's sweep
        visits only accounts due): the time its onboarding stalls, until that is signalled."""
        h, cfg = x.health, self.health
        if (h is None or cfg is None or x.flags & STALLED or h.reached or h.first_ts is None
                or not cfg.milestones or cfg.stall_days <= 0):
            return None
        return stall_deadline(cfg, h.first_ts)

    # -- evaluations ----------------------------------------------------------
    def _trend(self, trend: Trend, day: int, score: float) -> dict[str, Any]:
        ago = trend.ago(day, self.cfg.trend_days)
        return {"score_7d_ago": ago, "delta_7d": None if ago is None else score - ago}

    def explain(self, x: Extra, clock: int, score: float) -> dict[str, Any]:
        """The explanation of the engagement score at `clock`."""
        x.counts.prune(self._cut(clock))
        return {**self._trend(x.trend, clock // DAY_US, score),
                "top_events": top_events(x.counts.totals, self.weights, self.cfg.top_events)}

    def health_now(self, x: Extra, clock: int, engagement: float
                   ) -> tuple[float | None, dict[str, float | None]]:
        """(health score or None, components) at `clock`, given the engagement score."""
        assert self.health is not None and x.health is not None
        cut = self._cut(clock)
        x.counts.prune(cut)
        prune_tickets(x.health, cut, self.bucket_us)
        comps = components(x.health, self.health, engagement, x.counts.count(TICKET_EVENT))
        return combine(comps, self.health.weights), comps

    def _health_explain(self, x: Extra, clock: int, score: float,
                        comps: dict[str, float | None]) -> dict[str, Any]:
        assert self.health is not None and x.health is not None
        aha = time_to_aha_us(x.health, self.health)
        return {**self._trend(x.health_trend, clock // DAY_US, score),
                "top_events": top_events(x.counts.totals, self.weights, self.cfg.top_events),
                "components": comps, "weakest_component": weakest(comps, self.health.weights),
                "tickets": [t[1] for t in x.health.tickets],
                "time_to_aha_s": None if aha is None else aha / 1e6}

    def _drop(self, x: Extra, bit: int, delta: float | None) -> bool:
        """A sharp drop starts now (and is remembered until the score recovers)."""
        points = self.cfg.sharp_drop_points
        if points <= 0 or delta is None:
            return False
        if delta <= -points:
            if x.flags & bit:
                return False
            x.flags |= bit
            return True
        x.flags &= ~bit
        return False

    def evaluate(self, account: str, band: int, x: Extra, clock: int, score: float, cause: Cause,
                 changes: list[Change], signals: Signals | None) -> None:
        """After the engagement evaluation (`band` is the engagement band now). Explanations are
        built only for the changes and signals raised."""
        day, days = clock // DAY_US, self.cfg.trend_days
        ago = x.trend.ago(day, days)
        if self._drop(x, ENG_DROP, None if ago is None else score - ago):
            name = BAND_NAMES[band]
            changes.append(Change(account, name, name, score, clock, cause, "engagement",
                                  Reason.SHARP_DROP, self.explain(x, clock, score)))
        x.trend.record(day, score, days)
        if self.health is None or x.health is None:
            return
        hs = x.health
        health, comps = self.health_now(x, clock, score)
        if health is None:
            return
        hago = x.health_trend.ago(day, days)
        raised = list(signals or ())
        if self._drop(x, HEALTH_DROP, None if hago is None else health - hago):
            raised.append((Reason.SHARP_DROP, {}))
        if not x.flags & STALLED and onboarding_stalled(self.health, hs.first_ts, hs.reached, clock):
            x.flags |= STALLED
            raised.append((Reason.ONBOARDING_STALLED, {"stall_days": self.health.stall_days}))
        hband = next_band(hs.band, health, self.bands, self.hysteresis)
        if hband != hs.band or raised:
            hex_ = self._health_explain(x, clock, health, comps)
            if hband != hs.band:
                old = None if hs.band is None else BAND_NAMES[hs.band]
                hs.band = hband
                changes.append(Change(account, old, BAND_NAMES[hband], health, clock, cause,
                                      "health", None, hex_))
            now = BAND_NAMES[hband]
            for reason, detail in raised:
                changes.append(Change(account, now, now, health, clock, cause, "health", reason,
                                      {**hex_, "detail": detail}))
        x.health_trend.record(day, health, days)
