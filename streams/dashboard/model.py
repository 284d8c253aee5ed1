"""The dashboard's read model: one compact row per account, columns in `array`s.

An account is an index `i` into parallel columns (scores, bands, 7-day deltas, clocks, MRR,
weakest component, MRR and its source) plus one small orjson blob (top events and the events
lost since 7 days ago as ids of the contribution ring's name table, health components as a list,
ticket subjects, the traits the trait columns do not hold) decoded only when one account is
shown. Trait values are interned per indexed trait key (the first `max_trait_keys` keys seen; a
hostile sender cannot grow the index without bound), so a breakdown or a filter by trait reads
an `array('i')` of value ids. The daily history (`History`) and the contributions of the last 8
days (`Contributions`) are rings beside it. No Python object per account besides its id string.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Any

import orjson

from scoring.bands import BAND_NAMES
from scoring.model import HEALTH_COMPONENTS
from scoring.timefmt import format_us
from scoring.trend import DAY_US
from streams.contracts.snapshot import AccountSnapshot, Engagement, Health
from streams.dashboard.aggregates import Aggregates, Row
from streams.dashboard.contrib import Contributions, as_points, lost_since, top_lifts
from streams.dashboard.derive import Derived
from streams.dashboard.history import History
from streams.offline.report import histogram_edges

NAN = math.nan
NONE_VALUE = "(none)"
MAX_VALUE_CHARS = 200
BAND_INDEX = {b: i for i, b in enumerate(BAND_NAMES)}
MRR_SOURCES = (None, "trait", "billing", "billing+trait")  # the `mrr_src` column's codes


def trait_text(v: Any) -> str:
    """A trait value as one string (the report's segment value; long values cut)."""
    if v is None or v == "":
        return NONE_VALUE
    s = v if isinstance(v, str) else orjson.dumps(v).decode()
    return s[:MAX_VALUE_CHARS]


def _pack_components(comps: dict[str, float | None]) -> list[Any] | dict[str, float | None]:
    """Health components as a list in `HEALTH_COMPONENTS` order (false: not in the model), which
    leaves their names out of every account's blob; a dict with other names is kept as is."""
    if not set(comps) <= set(HEALTH_COMPONENTS):
        return comps
    return [comps.get(c, False) for c in HEALTH_COMPONENTS]


def _unpack_components(v: Any) -> dict[str, float | None] | None:
    if v is None or isinstance(v, dict):
        return v
    return {c: x for c, x in zip(HEALTH_COMPONENTS, v, strict=True) if x is not False}


def _opt(v: float) -> float | None:
    return None if v != v else v


def _f(v: float | None) -> float:
    return NAN if v is None else float(v)


class ReadModel:
    def __init__(self, history_days: int = 92, max_trait_keys: int = 16,
                 always: tuple[str, ...] = ("plan", "industry", "csm"),
                 hist_edges: list[float] | None = None, weights: dict[str, float] | None = None,
                 trend_days: int = 7) -> None:
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.eng = array("d")
        self.band = array("b")
        self.eng_ago = array("d")
        self.health = array("d")
        self.hband = array("b")
        self.h_ago = array("d")
        self.clock = array("q")
        self.last_event = array("q")
        self.mrr = array("d")
        self.mrr_src = array("b")  # index into MRR_SOURCES
        self.weakest = array("b")
        self.blob: list[bytes] = []
        self.max_trait_keys = max_trait_keys
        self.trait_cols: dict[str, array[int]] = {k: array("i") for k in always}
        self.values: list[str] = []
        self.value_ids: dict[str, int] = {}
        self.history = History(history_days)
        self.history_epoch = 0  # bumped when history is merged from the topic (not by upserts)
        self.weights = weights or {}
        self.trend_days = trend_days
        self.contrib = Contributions(trend_days + 1)
        self.on_upsert: list[Callable[[int], None]] = []  # e.g. the movement counts
        self.totals = Aggregates(histogram_edges(0.0, 100.0, 10) if hist_edges is None else hist_edges)
        self.version = 0  # bumped on every change (caches key on it)
        self.scored = 0  # accounts with a snapshot (band >= 0)
        self.dirty: set[int] = set()  # accounts whose history changed since the last publish
        self.clock_max = 0

    def __len__(self) -> int:
        return len(self.ids)

    def _new(self, account: str) -> int:
        i = len(self.ids)
        self.ids.append(account)
        self.index[account] = i
        self.eng.append(0.0)
        for fcol in (self.eng_ago, self.health, self.h_ago, self.mrr):
            fcol.append(NAN)
        self.band.append(-1)  # not scored yet (known from the history topic only)
        self.hband.append(-1)
        self.weakest.append(-1)
        self.mrr_src.append(0)
        self.clock.append(0)
        self.last_event.append(0)
        self.blob.append(b"")
        for col in self.trait_cols.values():
            col.append(-1)
        return i

    def _value_id(self, text: str) -> int:
        vid = self.value_ids.get(text)
        if vid is None:
            vid = self.value_ids[text] = len(self.values)
            self.values.append(text)
        return vid

    def _traits(self, i: int, traits: dict[str, Any]) -> None:
        for key, col in self.trait_cols.items():
            col[i] = self._value_id(trait_text(traits.get(key))) if key in traits else -1
        for key, v in traits.items():
            if key not in self.trait_cols and len(self.trait_cols) < self.max_trait_keys:
                col = self.trait_cols[key] = array("i", [-1]) * len(self.ids)
                col[i] = self._value_id(trait_text(v))

    def row(self, account: str) -> int:
        """The account's index, a new unscored row if it has none."""
        i = self.index.get(account)
        return self._new(account) if i is None else i

    def upsert(self, d: Derived) -> int:
        s = d.snapshot
        i = self.row(s.account)
        new = self.band[i] < 0
        old = None if new else self._row(i)
        if new:
            self.scored += 1
        e, h = s.engagement, s.health
        self.eng[i] = e.score
        self.band[i] = BAND_INDEX[e.band]
        self.eng_ago[i] = _f(e.score_7d_ago)
        self.clock[i] = d.clock_us
        self.last_event[i] = d.last_event_us
        self.clock_max = max(self.clock_max, d.clock_us)
        if h is not None:
            self.health[i] = _f(h.score)
            self.hband[i] = -1 if h.band is None else BAND_INDEX[h.band]
            self.h_ago[i] = _f(h.score_7d_ago)
            self.weakest[i] = (HEALTH_COMPONENTS.index(h.weakest_component)
                               if h.weakest_component in HEALTH_COMPONENTS else -1)
        self._traits(i, s.traits)
        self.mrr[i] = _f(d.mrr)
        self.mrr_src[i] = MRR_SOURCES.index(d.mrr_source) if d.mrr is not None else 0
        self.totals.move(old, self._row(i))
        day = d.clock_us // DAY_US
        then = self.contrib.at(i, day - self.trend_days)
        lost = [] if then is None else lost_since(then, d.lifts, self.weights)
        if d.lifts or self.contrib.at(i, day) is not None:  # (nothing kept for a model without [explain])
            self.contrib.record(i, day, top_lifts(d.lifts, self.weights))
        # a copy: orjson's result keeps its ~4 KiB write buffer (RSS 4.7 KB/account, measured)
        self.blob[i] = memoryview(orjson.dumps([
            [self._top_row(t) for t in s.top_events],
            None if h is None else _pack_components(h.components),
            None if h is None else list(h.tickets), self._blob_traits(i, s.traits),
            [[self.contrib.nid(n), a, b] for n, a, b in lost]])).tobytes()
        hist = self.history
        changed = False
        if new:  # the core's trend rings seed the days before the dashboard saw the account
            for tday, v in d.trend:
                changed |= hist.record(i, tday, v, None, only_missing=True)
            for tday, v in d.health_trend:
                changed |= hist.record(i, tday, None, v, only_missing=True)
        changed |= hist.record(i, day, e.score, None if h is None else h.score, self.band[i],
                               None if self.hband[i] < 0 else self.hband[i])
        if changed:
            self.dirty.add(i)
        self.version += 1
        for fn in self.on_upsert:
            fn(i)
        return i

    def _top_row(self, t: dict[str, Any]) -> list[Any]:
        """A top event as the blob keeps it: [event id, count], + points unless they are the
        model's weight x count (the core's rule, so nearly always left out)."""
        row = [self.contrib.nid(t["event"]), t["count"]]
        if self.weights.get(t["event"], 0.0) * t["count"] + 0.0 != t["points"]:
            row.append(t["points"])
        return row

    def _top_event(self, name: str, count: int, points: float | None = None) -> dict[str, Any]:
        if points is None:
            points = self.weights.get(name, 0.0) * count + 0.0
        return {"event": name, "count": count, "points": points}

    def _blob_traits(self, i: int, traits: dict[str, Any]) -> dict[str, Any]:
        """The traits the blob keeps: all but the indexed string values, which the trait columns
        hold already (`snapshot` puts them back)."""
        cols = self.trait_cols
        return {k: v for k, v in traits.items()
                if not (k in cols and cols[k][i] >= 0 and isinstance(v, str) and trait_text(v) == v)}

    def _row(self, i: int) -> Row:
        """What account `i` adds to the totals."""
        return Row(self.band[i], self.hband[i], self.mrr[i], self.mrr_src[i], self.totals.bin_of(self.eng[i]),
                   tuple((k, col[i]) for k, col in self.trait_cols.items() if col[i] >= 0))

    def snapshot(self, i: int) -> AccountSnapshot:
        top, packed, tickets, rest, _lost = orjson.loads(self.blob[i])
        comps = _unpack_components(packed)
        names = self.contrib.names
        traits = {**{k: self.values[col[i]] for k, col in self.trait_cols.items()
                     if col[i] >= 0 and k not in rest}, **rest}
        health = None
        if comps is not None:
            w = self.weakest[i]
            hs, ago = _opt(self.health[i]), _opt(self.h_ago[i])
            hb = self.hband[i]
            health = Health(hs, None if hb < 0 else BAND_NAMES[hb],
                            comps,
                            None if w < 0 else HEALTH_COMPONENTS[w], ago,
                            None if ago is None or hs is None else hs - ago, tuple(tickets))
        ago = _opt(self.eng_ago[i])
        eng = Engagement(self.eng[i], BAND_NAMES[self.band[i]], ago,
                         None if ago is None else self.eng[i] - ago)
        return AccountSnapshot(self.ids[i], format_us(self.clock[i]), format_us(self.last_event[i]),
                               eng, health, tuple(self._top_event(names[r[0]], *r[1:]) for r in top),
                               traits)

    def events_lost(self, i: int) -> list[dict[str, Any]]:
        """Events that lifted the score `trend_days` days before the account's clock and lift it
        less now (streams/dashboard/contrib.py), as of its last upsert."""
        names = self.contrib.names
        return as_points([(names[n], a, b) for n, a, b in orjson.loads(self.blob[i])[4]], self.weights)

    def get(self, account: str) -> AccountSnapshot | None:
        i = self.index.get(account)
        return None if i is None else self.snapshot(i)

    def trait_value(self, key: str, i: int) -> str | None:
        col = self.trait_cols.get(key)
        if col is None or col[i] < 0:
            return None
        return self.values[col[i]]

    def nbytes(self) -> int:
        """Bytes held by the columns, blobs, ids and index (not counting the interpreter)."""
        import sys

        cols: tuple[array[Any], ...] = (
            self.eng, self.band, self.eng_ago, self.health, self.hband, self.h_ago, self.clock,
            self.last_event, self.mrr, self.mrr_src, self.weakest, *self.trait_cols.values())
        n = sum(c.buffer_info()[1] * c.itemsize for c in cols)
        n += sum(sys.getsizeof(b) for b in self.blob) + sys.getsizeof(self.blob)
        n += sum(sys.getsizeof(s) for s in self.ids) + sys.getsizeof(self.ids) + sys.getsizeof(self.index)
        return n + self.history.nbytes() + self.contrib.nbytes()
