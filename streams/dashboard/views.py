"""What each page shows, as plain dicts (the JSON API returns them; the HTML pages render them).

Pure functions of the read model and the alert book. The portfolio (a pass over every account)
is cached per trait: reused while the model is unchanged, and for up to `max_age` seconds while
it changes (a live pipeline changes it between any two requests), so at most one pass per trait
runs every `max_age` seconds however many browsers ask.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from typing import Any

from scoring.bands import BAND_NAMES, Edges
from scoring.model import HEALTH_COMPONENTS, Model
from scoring.revenue import is_pql
from scoring.timefmt import format_us
from scoring.trend import DAY_US
from streams.dashboard.alerts import RISK_BANDS, AlertBook
from streams.dashboard.model import MRR_SOURCES, NONE_VALUE, ReadModel
from streams.dashboard.movement import Movement
from streams.offline.report import histogram_rows

NO_HEALTH = "no health yet"
RISK = frozenset(BAND_NAMES.index(b) for b in RISK_BANDS)


@dataclass
class Views:
    rm: ReadModel
    alerts: AlertBook
    model: Model
    owner_trait: str = "csm"
    bins: int = 10
    cache: bool = True  # off: every request recomputes (the bench's worst case)
    max_age: float = 2.0  # seconds a portfolio is served while the model changes

    def __post_init__(self) -> None:
        self._cache: dict[str | None, tuple[tuple[int, int], float, dict[str, Any]]] = {}
        days = self.model.explain_config.trend_days if self.model.explain_config is not None else 7
        self.movement = Movement(self.rm, Edges.of(self.model.bands), days)
        self.rm.on_upsert.append(self.movement.update)

    def band_of(self, account: str, kind: str = "engagement") -> str | None:
        i = self.rm.index.get(account)
        if i is None:
            return None
        b = self.rm.band[i] if kind == "engagement" or self.rm.band[i] < 0 else self.rm.hband[i]
        return None if b < 0 else BAND_NAMES[b]

    # -- portfolio ------------------------------------------------------------
    def portfolio(self, trait: str | None = None) -> dict[str, Any]:
        rm = self.rm
        keys = sorted(rm.trait_cols)
        if trait is None or trait not in rm.trait_cols:
            trait = next((k for k in ("plan", "industry") if k in rm.trait_cols), keys[0] if keys else None)
        version = (rm.version, self.alerts.count)
        hit = self._cache.get(trait) if self.cache else None
        now = time.monotonic()
        if hit is not None and (hit[0] == version or now - hit[1] < self.max_age):
            return hit[2]
        n = rm.scored
        t = rm.totals
        eng = dict(zip(BAND_NAMES, t.eng, strict=True))
        has_health = self.model.health is not None
        health = ({**dict(zip(BAND_NAMES, t.health, strict=False)), NO_HEALTH: t.health[-1]}
                  if has_health else None)
        mrr = dict(zip(BAND_NAMES, t.mrr, strict=True))
        with_mrr = t.with_mrr
        out = {
            "accounts": n,
            "as_of": format_us(rm.clock_max) if n else None,
            "engagement_bands": eng,
            "health_bands": health,
            "histogram": histogram_rows(t.edges, list(t.hist)),
            "movement": {"engagement": self.movement.summary("engagement"),
                         "health": self.movement.summary("health") if has_health else None},
            "trait_keys": keys,
            "breakdown": None if trait is None else {"trait": trait, "rows": self._breakdown(trait)},
            "mrr_by_band": {"accounts_with_mrr": with_mrr, "mrr": mrr,
                            "at_risk": mrr["red"] + mrr["at_risk"],
                            "sources": {src: n for src, n in zip(MRR_SOURCES, t.mrr_src, strict=True)
                                        if src is not None}} if with_mrr else None,
        }
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[trait] = (version, now, out)
        return out

    def _breakdown(self, trait: str) -> dict[str, dict[str, int]]:
        rm, t = self.rm, self.rm.totals
        none = list(t.eng)  # accounts without the trait: all, less those with a value
        rows: dict[str, list[int]] = {}
        for vid, counts in t.by_trait.get(trait, {}).items():
            rows[rm.values[vid]] = list(counts)
            none = [a - b for a, b in zip(none, counts, strict=True)]
        if any(none):
            known = rows.get(NONE_VALUE, [0] * len(none))  # (a trait sent as null or "")
            rows[NONE_VALUE] = [a + b for a, b in zip(known, none, strict=True)]
        return {v: dict(zip(BAND_NAMES, c, strict=True)) for v, c in sorted(rows.items())}

    # -- at-risk list ---------------------------------------------------------
    def at_risk(self, band: str | None = None, trait: str | None = None, value: str | None = None,
                owner: str | None = None, sort: str = "mrr", limit: int = 200) -> dict[str, Any]:
        rm = self.rm
        want = RISK if band not in RISK_BANDS else {BAND_NAMES.index(band)}
        tcol = rm.trait_cols.get(trait) if trait else None
        vid = rm.value_ids.get(value, -2) if value is not None else None
        ocol = rm.trait_cols.get(self.owner_trait) if owner else None
        oid = rm.value_ids.get(owner, -2) if owner else None
        hits = [i for i, (b, h) in enumerate(zip(rm.band, rm.hband, strict=True)) if b in want or h in want]
        if trait:
            hits = [] if tcol is None else [i for i in hits if vid is None or tcol[i] == vid]
        if owner:
            hits = [] if ocol is None else [i for i in hits if ocol[i] == oid]
        top = self._top(hits, sort, limit)
        return {"total": len(hits), "sort": sort, "owner_trait": self.owner_trait,
                "filters": {"band": band, "trait": trait, "value": value, "owner": owner},
                "owners": self.values(self.owner_trait),
                "trait_keys": sorted(rm.trait_cols),
                "accounts": [self._risk_row(i) for i in top]}

    def _top(self, hits: list[int], sort: str, limit: int) -> list[int]:
        """The first `limit` of `hits` by MRR (highest first; no MRR last) or by 7-day drop
        (largest first; no trend last), ties by account id, without sorting every hit."""
        rm = self.rm
        if sort == "drop":
            eng, ago = rm.eng, rm.eng_ago
            vals = [eng[i] - ago[i] if ago[i] == ago[i] else math.inf for i in hits]
        else:
            mrr = rm.mrr
            vals = [-mrr[i] if mrr[i] == mrr[i] else math.inf for i in hits]
        cand: list[int] | range = range(len(hits))
        if len(hits) > limit:
            cut = heapq.nsmallest(limit, vals)[-1]
            cand = [j for j, v in enumerate(vals) if v <= cut]  # (ties at the cut kept, for the ids)
        ids = rm.ids
        return [hits[j] for j in sorted(cand, key=lambda j: (vals[j], ids[hits[j]]))[:limit]]

    def values(self, trait: str) -> list[str]:
        col = self.rm.trait_cols.get(trait)
        return [] if col is None else sorted({self.rm.values[v] for v in set(col) if v >= 0})

    def _delta(self, i: int) -> float | None:
        ago = self.rm.eng_ago[i]
        return None if ago != ago else self.rm.eng[i] - ago

    def days_in_band(self, i: int) -> int | None:
        return self.movement.days_in_band(i)

    def _risk_row(self, i: int) -> dict[str, Any]:
        rm = self.rm
        snap = rm.snapshot(i)
        h = snap.health
        delta = self._delta(i)
        return {
            "account": snap.account,
            "band": snap.engagement.band, "score": snap.engagement.score, "delta_7d": delta,
            "trend": None if delta is None else ("up" if delta > 0 else "down" if delta < 0 else "flat"),
            "health_band": None if h is None else h.band, "health": None if h is None else h.score,
            "mrr": None if rm.mrr[i] != rm.mrr[i] else rm.mrr[i],
            "mrr_source": MRR_SOURCES[rm.mrr_src[i]],
            "owner": snap.traits.get(self.owner_trait),
            "days_in_band": self.days_in_band(i),
            "reason": {"weakest_component": None if h is None else h.weakest_component,
                       "events_lost": rm.events_lost(i),
                       "events_pulling_down": [t for t in snap.top_events if t["points"] < 0],
                       "tickets": [] if h is None else [t for t in h.tickets if t]},
        }

    # -- account --------------------------------------------------------------
    def account(self, account: str) -> dict[str, Any] | None:
        rm = self.rm
        i = rm.index.get(account)
        if i is None or rm.band[i] < 0:
            return None
        snap = rm.snapshot(i)
        return {"snapshot": snap.to_dict(),
                "history": [{"day": format_us(d * DAY_US)[:10], "engagement": e, "health": h}
                            for d, e, h in rm.history.series(i)],
                "days_in_band": self.days_in_band(i),
                "events_lost": rm.events_lost(i),
                "mrr": None if rm.mrr[i] != rm.mrr[i] else rm.mrr[i],
                "mrr_source": MRR_SOURCES[rm.mrr_src[i]],
                "components": list(HEALTH_COMPONENTS),
                "alerts": [{k: v for k, v in a.items() if k != "at_us"} for a in self.alerts.of(account)]}

    # -- PQLs -----------------------------------------------------------------
    def pql(self, limit: int = 500) -> dict[str, Any]:
        rm = self.rm
        rows = []
        pcol = rm.trait_cols.get("plan")
        if pcol is not None:
            for i in range(len(rm)):
                vid = pcol[i]
                if vid >= 0 and rm.band[i] >= 0 and is_pql(rm.values[vid], BAND_NAMES[rm.band[i]]):
                    rows.append(i)
        rows.sort(key=lambda i: (-rm.eng[i], rm.ids[i]))
        return {"total": len(rows), "accounts": [
            {"account": rm.ids[i], "plan": rm.values[pcol[i]] if pcol is not None else None,
             "band": BAND_NAMES[rm.band[i]], "score": rm.eng[i],
             "health": None if rm.health[i] != rm.health[i] else rm.health[i],
             "mrr": None if rm.mrr[i] != rm.mrr[i] else rm.mrr[i],
             "last_event_at": format_us(rm.last_event[i])} for i in rows[:limit]]}
