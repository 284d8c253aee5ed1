"""One account-state changelog record -> the account's snapshot, with the pure core.

The worker's account-state table (streams/worker/partition_state.py) writes, per changed
account, `[partition, offset, account_state, traits]` and per partition a meta record with the
scorer's clock and sweep counters. `Deriver` keeps one `Scorer` per partition holding only that
meta (no accounts), loads one account at a time into it, applies the same end-of-input advance
as `pulse scores export` (`Scorer.finish_account`), reads the scores and explanation, and drops
the account again. Memory therefore follows the snapshots kept, not the worker's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from scoring.account import Account
from scoring.bands import BAND_NAMES
from scoring.change import Change
from scoring.engine import Scorer
from scoring.health import weakest
from scoring.model import Model
from scoring.revenue import account_mrr
from scoring.timefmt import format_us
from scoring.trend import DAY_US
from streams.contracts.snapshot import AccountSnapshot, Engagement, Health
from streams.worker.partition_state import META_PREFIX, MODEL_KEY


@dataclass(frozen=True, slots=True)
class Derived:
    """A snapshot, its clock (µs) and the daily points the core's trend rings still hold."""

    snapshot: AccountSnapshot
    clock_us: int
    last_event_us: int
    trend: list[tuple[int, float]]  # (day, engagement) older points from the trend ring
    health_trend: list[tuple[int, float]]
    mrr: float | None = None  # from subscription events in the state, else the `mrr` trait
    mrr_source: str | None = None  # "billing", "billing+trait", "trait" (scoring.revenue.account_mrr)
    lifts: dict[str, int] = field(default_factory=dict)  # positive-weight event -> count in the window


def is_meta(key: bytes) -> bool:
    """Not an account: a partition's meta record or the model record."""
    return key.startswith(META_PREFIX)


def is_partition_meta(key: bytes) -> bool:
    return key.startswith(META_PREFIX) and key != MODEL_KEY


class Deriver:
    def __init__(self, model: Model, sweep_seconds: int = 86400) -> None:
        self.model = model
        self.sweep_seconds = sweep_seconds
        self._scorers: dict[int, Scorer] = {}

    def _scorer(self, partition: int) -> Scorer:
        sc = self._scorers.get(partition)
        if sc is None:
            sc = self._scorers[partition] = Scorer(self.model, self.sweep_seconds)
        return sc

    def meta(self, value: bytes) -> int:
        """Take a partition's meta record (its stream clock); returns the partition. (The model
        record, `MODEL_KEY`, is a meta key too: `Follower` skips it, see `is_partition_meta`.)"""
        d = orjson.loads(value)
        sc = Scorer(self.model, self.sweep_seconds)
        sc.load(d.get("scorer"), {})
        self._scorers[int(d["p"])] = sc
        return int(d["p"])

    def clock(self, partition: int) -> int | None:
        sc = self._scorers.get(partition)
        return None if sc is None else sc.clock

    def derive(self, key: bytes, value: bytes) -> Derived | None:
        """The account's snapshot, or None for an account with traits but no scored event yet."""
        partition, _offset, state, traits = orjson.loads(value)
        if state is None:
            return None
        account = key.decode("utf-8", "replace")
        sc = self._scorer(int(partition))
        insight = sc.insight
        acct = Account.load(state, None if insight is None else insight.new)
        last_event = acct.clock
        sc.accounts = {account: acct}
        changes: list[Change] = []
        sc.finish_account(account, acct, changes)  # what `pulse scores export` reads
        sc.take_dirty()
        sc.accounts = {}
        clock = sc.account_clock(acct)
        score = sc.rule.value_at(acct.state, clock)  # type: ignore[arg-type]
        assert acct.band is not None
        ago = delta = None
        top: list[dict[str, Any]] = []
        lifts: dict[str, int] = {}
        health = None
        trend: list[tuple[int, float]] = []
        htrend: list[tuple[int, float]] = []
        x = acct.extra
        traits = traits if isinstance(traits, dict) else {}
        mrr, mrr_source = account_mrr(None if x is None or x.health is None else x.health.mrr,
                                      traits.get("mrr"))
        if insight is not None and x is not None:
            ex = insight.explain(x, clock, score)
            ago, delta, top = ex["score_7d_ago"], ex["delta_7d"], ex["top_events"]
            weights = self.model.weights
            lifts = {n: c for n, c in x.counts.totals.items() if weights.get(n, 0.0) > 0}
            trend = list(zip(x.trend.days, x.trend.values, strict=True))
            if insight.health is not None and x.health is not None:
                h, comps = insight.health_now(x, clock, score)
                hago = None if h is None else x.health_trend.ago(clock // DAY_US, insight.cfg.trend_days)
                band = x.health.band
                health = Health(h, None if band is None else BAND_NAMES[band], comps,
                                weakest(comps, insight.health.weights), hago,
                                None if hago is None or h is None else h - hago,
                                tuple(t[1] for t in x.health.tickets))
                htrend = list(zip(x.health_trend.days, x.health_trend.values, strict=True))
        snap = AccountSnapshot(account, format_us(clock), format_us(last_event),
                               Engagement(score + 0.0, BAND_NAMES[acct.band], ago, delta),
                               health, tuple(top), traits)
        return Derived(snap, clock, last_event, trend, htrend, mrr, mrr_source, lifts)
