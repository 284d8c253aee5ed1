"""`pulse report`: a portfolio report from one replay of an events file.

The scores come from `streams.offline.replay.replay` (the same core, the same files:
`scores.jsonl`, `changes.jsonl`); an observer on its loop feeds billing events
and `group` traits to `scoring.revenue.RevenueLedger`. Nothing here scores.

Contents (`build_report` returns it as a dict; `render_markdown` / `render_json`):

- bands: the final engagement band of every scored account, counted for all
  accounts and per value of each segment trait (the latest `group` traits,
  merged as the resolver merges them; an account without the trait is under
  "(none)"). The scores are those at the end of the file, whatever the period.
- histogram: final scores in fixed bins: (-inf, at_risk_below), then `bins`
  equal half-open bins over [at_risk_below, green_max), then [green_max, +inf).
- health_bands: the same for the final health band (`health_scores.jsonl`),
  when the model has `[health]`; else None. "no health yet" counts accounts
  without one.
- at_risk: accounts whose final band is at_risk or red, sorted by band, score,
  account, with their last band change from `changes.jsonl` (from, to, score,
  when); when the model has `[explain]` / `[health]`, the explanation engine's
  reading at the account's final clock (`score_7d_ago`, `delta_7d`,
  `top_events`: weight x count in the score window) and the health score and
  band (else those keys are None); and always `negative_events` /
  `positive_events`: accepted weighted events over the whole file (not only
  the window), ranked by count x |weight| — a pointer for the CSM.
- pql: product-qualified leads: plan trait "free" or "trial" (any case) and
  final band green or thriving, sorted by score (highest first), account.
- revenue: `RevenueLedger.kpis` over the period: [from, to] if given, else
  the event-time span of the valid events of the file.
"""

from __future__ import annotations

import bisect
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from scoring.bands import BAND_NAMES
from scoring.calls import Event, ScoredEvent
from scoring.engine import Scorer
from scoring.errors import ConfigError
from scoring.model import Model
from scoring.revenue import BILLING_EVENTS, RevenueLedger, is_pql
from scoring.timefmt import format_us, parse_iso_us
from streams.offline.replay import replay

NONE_VALUE = "(none)"
NO_BAND = "no health yet"
AT_RISK_BANDS = ("at_risk", "red")
DEFAULT_SEGMENTS = ("plan", "industry")
TOP_EVENTS = 3


def parse_when(text: str, *, end: bool = False) -> int:
    """Unix µs of `--from` / `--to`: ISO-8601 with a zone, or a date (UTC). A date as `end` means
    the end of that day (the next midnight)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        us = parse_iso_us(text)
        if us is None:
            raise ConfigError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time with a zone",
                              key="--to" if end else "--from") from None
        return us
    if end:
        day += timedelta(days=1)
    return int((day - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000


@dataclass
class _Observer:
    """Replay's observer: billing events and traits to the ledger, weighted events per account."""

    weights: dict[str, float]
    ledger: RevenueLedger = field(default_factory=RevenueLedger)
    first_us: int | None = None
    last_us: int | None = None
    events: dict[str, dict[str, int]] = field(default_factory=dict)

    def __call__(self, ev: Event | ScoredEvent, status: str | None) -> None:
        ts = ev.ts_us
        if self.first_us is None or ts < self.first_us:
            self.first_us = ts
        if self.last_us is None or ts > self.last_us:
            self.last_us = ts
        if isinstance(ev, ScoredEvent):
            if status == "accepted" and self.weights.get(ev.name):
                counts = self.events.setdefault(ev.account, {})
                counts[ev.name] = counts.get(ev.name, 0) + 1
            if ev.name in BILLING_EVENTS:
                self.ledger.add_event(ev.account, ev.name, ts, ev.properties, ev.message_id)
        elif ev.type == "group" and ev.group_id is not None and ev.traits:
            self.ledger.add_traits(ev.group_id, ev.traits, ts)


def _segment_value(traits: dict[str, Any], key: str) -> str:
    v = traits.get(key)
    if v is None or v == "":
        return NONE_VALUE
    return v if isinstance(v, str) else orjson.dumps(v).decode()


def _band_counts(bands: Iterable[str | None], *, undefined: bool = False) -> dict[str, int]:
    """Accounts per band; with `undefined`, a last key counts those without a band (health)."""
    counts = dict.fromkeys(BAND_NAMES, 0)
    if undefined:
        counts[NO_BAND] = 0
    for b in bands:
        counts[NO_BAND if b is None else b] += 1
    return counts


def _distribution(bands: list[tuple[str, str | None]], traits: dict[str, dict[str, Any]],
                  segments: list[str], *, undefined: bool = False) -> dict[str, Any]:
    """Band counts of (account, band) pairs: all, and per value of each segment trait."""
    by_segment: dict[str, dict[str, dict[str, int]]] = {}
    for seg in segments:
        groups: dict[str, list[str | None]] = {}
        for account, band in bands:
            groups.setdefault(_segment_value(traits.get(account, {}), seg), []).append(band)
        by_segment[seg] = {v: _band_counts(groups[v], undefined=undefined) for v in sorted(groups)}
    return {"all": _band_counts((b for _, b in bands), undefined=undefined), "by_segment": by_segment}


def _explain(scorer: Scorer | None, account: str, score: float) -> dict[str, Any] | None:
    """The explanation engine's reading at the account's final clock (score 7 days earlier, top
    events in the window), or None when the model keeps no such state (no [explain]/[health])."""
    if scorer is None or scorer.insight is None:
        return None
    acct = scorer.accounts.get(account)
    if acct is None or acct.extra is None:
        return None
    return scorer.insight.explain(acct.extra, scorer.account_clock(acct), score)


def histogram_edges(lo: float, hi: float, bins: int) -> list[float]:
    """The finite edges of `histogram`'s bins: `bisect_right(edges, s)` is the bin of score s."""
    return [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]


def histogram_rows(edges: list[float], counts: list[int]) -> list[dict[str, Any]]:
    """`histogram`'s output for per-bin counts (len(edges) + 1 of them)."""
    bounds: list[float | None] = [None, *edges, None]
    return [{"from": bounds[i], "to": bounds[i + 1], "count": counts[i]} for i in range(len(edges) + 1)]


def histogram(scores: Iterable[float], lo: float, hi: float, bins: int) -> list[dict[str, Any]]:
    """Counts in (-inf, lo), `bins` equal bins [a, b) over [lo, hi), [hi, +inf); edges None = infinite."""
    edges = histogram_edges(lo, hi, bins)
    counts = [0] * (bins + 2)
    for s in scores:
        counts[bisect.bisect_right(edges, s)] += 1
    return histogram_rows(edges, counts)


def _top(counts: dict[str, int], weights: dict[str, float], sign: int) -> list[dict[str, Any]]:
    rows = [(n, c, weights[n]) for n, c in counts.items() if weights[n] * sign > 0]
    rows.sort(key=lambda r: (-r[1] * abs(r[2]), r[0]))
    return [{"event": n, "count": c, "weight": w} for n, c, w in rows[:TOP_EVENTS]]


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open("rb") as f:
        for line in f:
            yield orjson.loads(line)


def build_report(events: Path, model: Model, *, segments: Iterable[str] = DEFAULT_SEGMENTS,
                 bins: int = 10, start_us: int | None = None, end_us: int | None = None,
                 sweep_seconds: int = 86400,
                 on_progress: Callable[[int], None] | None = None, now_us: int | None = None,
                 max_future_skew_us: int = 300_000_000) -> dict[str, Any]:
    """Replay `events` with `model` and build the report (see the module docstring). `now_us`:
    the future-skew rule's instant, as for `replay` (default: the wall clock now)."""
    if bins < 1:
        raise ConfigError("--bins must be at least 1", key="--bins")
    obs = _Observer(dict(model.weights))
    with tempfile.TemporaryDirectory(prefix="pulse-report-") as tmp:
        result = replay(events, model, Path(tmp), sweep_seconds=sweep_seconds,
                        on_progress=on_progress, observe=obs, now_us=now_us,
                        max_future_skew_us=max_future_skew_us)
        out = Path(tmp)
        scores = [(d["account"], d["score"] + 0.0, d["band"]) for d in _read_jsonl(out / "scores.jsonl")]
        last_change = {d["account"]: d for d in _read_jsonl(out / "changes.jsonl")}
        health = ({d["account"]: d for d in _read_jsonl(out / "health_scores.jsonl")}
                  if model.health is not None else None)
    traits = result.account_traits
    segs = list(dict.fromkeys(segments))
    weights = dict(model.weights)
    order = {b: i for i, b in enumerate(BAND_NAMES)}
    at_risk = []
    for account, score, band in sorted((s for s in scores if s[2] in AT_RISK_BANDS),
                                       key=lambda s: (order[s[2]], s[1], s[0])):
        counts = obs.events.get(account, {})
        ch = last_change.get(account)
        ex = _explain(result.scorer, account, score)
        h = None if health is None else health.get(account)
        at_risk.append({
            "account": account, "band": band, "score": score,
            "traits": {k: traits.get(account, {}).get(k) for k in segs},
            "last_change": None if ch is None else {
                "from": ch["from"], "to": ch["to"], "score": ch["score"] + 0.0, "at": ch["at"]},
            "score_7d_ago": None if ex is None else ex["score_7d_ago"],
            "delta_7d": None if ex is None else ex["delta_7d"],
            "top_events": None if ex is None else ex["top_events"],
            "health": None if h is None else {"score": h["health"], "band": h["band"]},
            "negative_events": _top(counts, weights, -1),
            "positive_events": _top(counts, weights, +1)})
    pql = [{"account": a, "plan": traits.get(a, {}).get("plan"), "band": b, "score": s}
           for a, s, b in sorted(scores, key=lambda s: (-s[1], s[0]))
           if is_pql(traits.get(a, {}).get("plan"), b)]
    start = obs.first_us if start_us is None else start_us
    end = obs.last_us if end_us is None else end_us
    revenue: dict[str, Any] | None = None
    if start is not None and end is not None:
        if end < start:
            raise ConfigError(f"the period ends ({format_us(end)}) before it starts "
                              f"({format_us(start)})", key="--to")
        revenue = obs.ledger.kpis(start, end).to_dict()
        revenue["start"], revenue["end"] = format_us(start), format_us(end)
    return {
        "events": events.name,
        "replay": {k: result.summary[k] for k in ("accepted", "duplicate", "late", "invalid",
                                                   "accounts", "changes")},
        "accounts": len(scores),
        "segments": segs,
        "bands": _distribution([(a, b) for a, _, b in scores], traits, segs),
        "health_bands": None if health is None else _distribution(
            [(a, health[a]["band"] if a in health else None) for a, _, _ in scores], traits, segs,
            undefined=True),
        "histogram": histogram((s for _, s, _ in scores), model.bands.at_risk_below,
                               model.bands.green_max, bins),
        "at_risk": at_risk,
        "pql": pql,
        "revenue": revenue,
    }


def render_json(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


# -- markdown -------------------------------------------------------------------------------
def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x + 0.0:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100 + 0.0:.1f}%"


def _bound(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    if not body:
        return ["None.", ""]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *body, ""]


def _band_row(label: str, counts: dict[str, int]) -> list[str]:
    return [label, *(str(v) for v in counts.values()), str(sum(counts.values()))]


def _bands_section(title: str, dist: dict[str, Any]) -> list[str]:
    header = ["segment", *dist["all"], "total"]
    lines = [f"## {title}", "", *_table(header, [_band_row("all accounts", dist["all"])])]
    for seg, values in dist["by_segment"].items():
        lines += [f"### {title.lower()} by {seg}", ""]
        lines += _table([seg, *header[1:]], [_band_row(v, c) for v, c in values.items()])
    return lines


def _trend_cell(a: dict[str, Any]) -> str:
    if a["score_7d_ago"] is None:
        return "—"
    return f"{_num(a['score_7d_ago'])} ({a['delta_7d'] + 0.0:+.2f})"


def _at_risk_rows(report: dict[str, Any], explained: bool, health: bool) -> list[list[str]]:
    rows = []
    for a in report["at_risk"]:
        ch = a["last_change"]
        row = [a["account"], a["band"], _num(a["score"])]
        if explained:
            row.append(_trend_cell(a))
        if health:
            row.append("—" if a["health"] is None or a["health"]["score"] is None else
                       f"{_num(a['health']['score'])} {a['health']['band']}")
        row += [NONE_VALUE if a["traits"][s] is None else str(a["traits"][s]) for s in report["segments"]]
        row.append("—" if ch is None else
                   f"{ch['from'] or 'first'} → {ch['to']} at {_num(ch['score'])}, {ch['at']}")
        if explained:
            row.append(", ".join(f"{e['event']} ×{e['count']} ({e['points'] + 0.0:+g})"
                                 for e in a["top_events"]) or "—")
        else:
            row += [_events_cell(a["negative_events"]), _events_cell(a["positive_events"])]
        rows.append(row)
    return rows


def _events_cell(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['event']} ×{r['count']} ({r['weight']:+g})" for r in rows) or "—"


def _revenue_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        ["MRR at start / at end", f"{_num(r['start_mrr'])} / {_num(r['end_mrr'])}"],
        ["new MRR", _num(r["new_mrr"])],
        ["expansion MRR", _num(r["expansion_mrr"])],
        ["contraction MRR", _num(r["contraction_mrr"])],
        ["churned MRR", _num(r["churned_mrr"])],
        ["paying accounts at start / at end",
         f"{r['accounts_at_start']} / {r['paying_accounts_at_end']}"],
        ["churned accounts", str(r["churned_accounts"])],
        ["churn rate (period)", _pct(r["churn_rate"])],
        ["monthly churn rate (x 30 / days)", _pct(r["monthly_churn_rate"])],
        ["gross revenue retention (GRR)", _pct(r["grr"])],
        ["net revenue retention (NRR)", _pct(r["nrr"])],
        ["ARPA (MRR at end / paying accounts)", _num(r["arpa"])],
        ["LTV (ARPA / monthly churn rate)",
         _num(r["ltv"]) if r["ltv"] is not None else "n/a (no churn)" if r["arpa"] else "n/a"],
        ["trial-to-paid", f"{_pct(r['trial_to_paid'])} "
                          f"({r['converted_trials']} of {r['trial_accounts']} trial accounts)"],
        ["billing events skipped", ", ".join(f"{k}={v}" for k, v in r["skipped"].items()) or "none"],
    ]


def render_markdown(report: dict[str, Any]) -> str:
    rp = report["replay"]
    lines = [f"# Pulse portfolio report: {report['events']}", "",
             f"{report['accounts']} scored accounts; replay: {rp['accepted']} accepted, "
             f"{rp['duplicate']} duplicate, {rp['late']} late, {rp['invalid']} invalid events, "
             f"{rp['changes']} band changes. Bands and scores are as at the end of the file.", ""]
    lines += _bands_section("Band distribution", report["bands"])
    if report["health_bands"] is not None:
        lines += _bands_section("Health band distribution", report["health_bands"])
    lines += ["## Score histogram", ""]
    lines += _table(["score", "accounts"], [
        [f"< {_bound(h['to'])}" if h["from"] is None else f">= {_bound(h['from'])}"
         if h["to"] is None else f"[{_bound(h['from'])}, {_bound(h['to'])})", str(h["count"])]
        for h in report["histogram"]])
    explained = any(a["top_events"] is not None for a in report["at_risk"])
    health = report["health_bands"] is not None
    lines += ["## At-risk accounts (at_risk and red)", "",
              "Last change: the band change that put the account where it is (from → to, score, "
              "when). " + ("Trend: the score 7 days earlier (change). Top events: weight × count "
                           "in the score window (the explanation engine)." if explained else
                           "Events: accepted weighted events over the whole file, ranked by "
                           "count × |weight| (the model has no [explain]: no trend)."), ""]
    lines += _table(["account", "band", "score", *(["7 days earlier"] if explained else []),
                     *(["health"] if health else []), *report["segments"], "last change",
                     *(["top events (window)"] if explained else
                       ["top negative events", "top positive events"])],
                    _at_risk_rows(report, explained, health))
    lines += ["## Product-qualified leads (free/trial plan, green or thriving)", ""]
    lines += _table(["account", "plan", "band", "score"], [
        [p["account"], str(p["plan"]), p["band"], _num(p["score"])] for p in report["pql"]])
    r = report["revenue"]
    if r is None:
        lines += ["## Revenue", "", "No events: no period.", ""]
    else:
        lines += [f"## Revenue ({r['start']} → {r['end']}, {_num(r['days'], 4)} days)", ""]
        lines += _table(["KPI", "value"], _revenue_rows(r))
        lines += ["Definitions: `scoring/revenue.py` (README, \"Portfolio report\").", ""]
    return "\n".join(lines)
