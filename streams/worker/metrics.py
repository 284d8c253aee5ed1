"""The worker's Prometheus metrics (`pulse_*`), served at `/metrics` by `streams.worker.web`.

The agents call these helpers once per batch, never per event: a labelled `.inc()` per event
would cost more than the scoring (docs/benchmarks.md#metrics-overhead). The batch loops count
with plain ints; the helpers add the totals (every metric: docs/operations.md#metrics).
Histograms are sampled:

- `pulse_event_lag_seconds`: per batch and touched partition, one observation for the newest
  event the batch applied (wall clock - the partition's stream clock, i.e. the largest event
  time so far), only when the batch moved that clock;
- `pulse_alert_emit_seconds`: per batch that emitted alerts, one observation: from the Kafka
  timestamp of the batch's first `scored` record (written by `resolve` when it forwarded the
  event) to the broker's acknowledgement of the alerts -- an upper bound for every alert of
  the batch.

Gauges that describe state (`pulse_accounts{band}`, `pulse_table_keys{table}`) are computed
when `/metrics` is scraped (`StateCollector`), from the score step's partition states in memory
(`bind(step, tables)`) and RocksDB's key estimate, so they cost nothing on the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from scoring.bands import BAND_NAMES
from streams.worker.lagmon import STATUSES, PartitionStatus

if TYPE_CHECKING:
    from streams.worker.score import ScoreStep

log = logging.getLogger("pulse.metrics")
# no `*_created` series: they would double the scrape for nothing here
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
OUTCOMES = ("consumed", "accepted", "duplicate", "late", "invalid")
SCORED_OUTCOMES = ("accepted", "duplicate", "late")
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
EMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

EVENTS = Counter("pulse_events", "Events by outcome: consumed = records read by the resolve agent; "
                 "accepted / duplicate / late = scored events applied / dropped as a repeated messageId / "
                 "dropped as late (score agent); invalid = rejected events sent to the DLQ.",
                 ["outcome"], registry=REGISTRY)
CONNECTION_ERRORS = Counter("pulse_connection_errors", "Connection errors to the Kafka broker or Redis "
                            "(logged once per outage, counted here).", ["service"], registry=REGISTRY)
INVALID = Counter("pulse_events_invalid", "Rejected events by the core's reason code.", ["reason"],
                  registry=REGISTRY)
EVENT_LAG = Histogram("pulse_event_lag_seconds", "Event time -> scored: wall clock minus the event "
                      "timestamp when the score agent applies it (sampled: newest event per batch and "
                      "partition).", buckets=LAG_BUCKETS, registry=REGISTRY)
ALERT_EMIT = Histogram("pulse_alert_emit_seconds", "Kafka timestamp of the scored record -> alert "
                       "acknowledged by the broker (one observation per batch with alerts).",
                       buckets=EMIT_BUCKETS, registry=REGISTRY)
ALERTS = Counter("pulse_alerts", "Alerts emitted, by score kind and band transition.",
                 ["kind", "from_band", "to_band"], registry=REGISTRY)
BATCH = Histogram("pulse_batch_seconds", "Processing time of one agent batch.", ["agent"],
                  buckets=BATCH_BUCKETS, registry=REGISTRY)
CONSUMER_LAG = Gauge("pulse_consumer_lag", "End offset - committed offset (from the broker).",
                     ["group", "topic", "partition"], registry=REGISTRY)
CONSUMER_LAG_STATUS = Gauge("pulse_consumer_lag_status", "Burrow status of the partition: 1 for the "
                            "current status, 0 for the others.", ["group", "topic", "partition", "status"],
                            registry=REGISTRY)

_events = {o: EVENTS.labels(outcome=o) for o in OUTCOMES}
_batch = {a: BATCH.labels(agent=a) for a in ("resolve", "score")}
for _o in OUTCOMES:  # every outcome series exists from the start (a rate over a missing series is empty)
    _events[_o].inc(0)


# -- resolve ---------------------------------------------------------------------------------
def resolve_batch(consumed: int, invalid: dict[str, int], started: float) -> None:
    """After a resolve batch: records read, rejections by reason, time since `started` (perf_counter)."""
    _batch["resolve"].observe(time.perf_counter() - started)
    _events["consumed"].inc(consumed)
    if invalid:
        _events["invalid"].inc(sum(invalid.values()))
        for reason, n in invalid.items():
            INVALID.labels(reason=reason).inc(n)


# -- score -----------------------------------------------------------------------------------
class _Seen:
    """What the metrics last saw of one partition's state: its counts and stream clock."""

    __slots__ = ("clock", "counts", "state")

    def __init__(self, state: Any) -> None:
        self.state = state
        self.counts = dict(state.scorer.counts)
        self.clock = state.scorer.clock


_seen: dict[int, _Seen] = {}


def track(state: Any) -> None:
    """A `PartitionState` was (re)built: counts already in it (restored) are not new events."""
    _seen[state.partition] = _Seen(state)


def score_batch(states: Iterable[Any], first: Any, alerts: Sequence[tuple[Any, Any, bytes]],
                started: float) -> None:
    """After a score batch whose alerts the broker has: the touched `PartitionState`s, the batch's
    first event (for its Kafka timestamp), the alert records sent, `started` (perf_counter)."""
    _batch["score"].observe(time.perf_counter() - started)
    now = time.time()
    for st in states:
        seen = _seen.get(st.partition)
        if seen is None or seen.state is not st:  # not tracked: count from here on
            seen = _seen[st.partition] = _Seen(st)
            continue
        counts = st.scorer.counts
        for outcome in SCORED_OUTCOMES:
            delta = counts.get(outcome, 0) - seen.counts.get(outcome, 0)
            if delta > 0:
                _events[outcome].inc(delta)
        seen.counts = dict(counts)
        clock = st.scorer.clock
        if clock is not None and clock != seen.clock:
            EVENT_LAG.observe(max(0.0, now - clock / 1_000_000))
            seen.clock = clock
    if alerts:
        count_alerts(alerts)
        ts = getattr(first.message, "timestamp", None) if first is not None else None
        if ts:
            ALERT_EMIT.observe(max(0.0, now - ts))


def count_alerts(alerts: Sequence[tuple[Any, Any, bytes]]) -> None:
    """Alerts sent (topic, key, JSON value records), by kind and transition."""
    by: dict[tuple[str, str, str], int] = {}
    for _, _, value in alerts:
        a = orjson.loads(value)
        k = (str(a.get("kind")), str(a.get("from")), str(a.get("to")))
        by[k] = by.get(k, 0) + 1
    for (kind, frm, to), n in by.items():
        ALERTS.labels(kind=kind, from_band=frm, to_band=to).inc(n)


# -- lag monitor -----------------------------------------------------------------------------
_lag_series: set[tuple[str, str, str]] = set()


def set_lag(rows: Iterable[PartitionStatus]) -> None:
    """Set the lag gauges to `rows`; series of partitions no longer in `rows` are removed."""
    current = set()
    for r in rows:
        labels = (r.group, r.topic, str(r.partition))
        current.add(labels)
        CONSUMER_LAG.labels(*labels).set(r.lag)
        for status in STATUSES:
            CONSUMER_LAG_STATUS.labels(*labels, status).set(1 if status == r.status else 0)
    for labels in _lag_series - current:
        CONSUMER_LAG.remove(*labels)
        for status in STATUSES:
            CONSUMER_LAG_STATUS.remove(*labels, status)
    _lag_series.clear()
    _lag_series.update(current)


# -- state gauges, computed at scrape time ----------------------------------------------------
def _estimate_keys(table: Any) -> int | None:
    """RocksDB's estimate of the keys of a Faust table (its `rocksdb.estimate-num-keys`)."""
    store = getattr(table, "_data", None)  # never create the store from a scrape
    dbs = getattr(store, "_dbs", None)
    if dbs is None:
        return None
    total = 0
    for db in list(dbs.values()):
        try:
            total += int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
        except Exception:  # an in-memory store, or a db being closed during a rebalance
            return None
    return total


class StateCollector(Collector):
    """`pulse_accounts{band}` and `pulse_table_keys{table}`, when scraped: from the score step's
    partition states and the app's tables (name -> Faust table)."""

    def __init__(self, step: ScoreStep, tables: Mapping[str, Any]) -> None:
        self.step, self.tables = step, tables

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("pulse_accounts", "", labels=["band"]),
                GaugeMetricFamily("pulse_table_keys", "", labels=["table"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        bands = GaugeMetricFamily("pulse_accounts", "Accounts per engagement band, on this worker's "
                                  "partitions.", labels=["band"])
        counts = [0] * len(BAND_NAMES)
        unbanded = in_memory = state_rows = 0
        for st in list(self.step.partitions.values()):
            accounts = st.scorer.accounts
            in_memory += len(accounts)
            state_rows += len(st.offsets.keys() | st.traits.keys()) + 1  # account rows + the meta row
            for acct in accounts.values():
                if acct.band is None:
                    unbanded += 1
                else:
                    counts[acct.band] += 1
        for i, name in enumerate(BAND_NAMES):
            bands.add_metric([name], counts[i])
        bands.add_metric(["none"], unbanded)
        yield bands
        keys = GaugeMetricFamily("pulse_table_keys", "Keys per table on this worker's partitions: "
                                 "account-state and scorer-accounts counted in memory, other tables "
                                 "RocksDB's estimate (it counts overwrites until compaction).",
                                 labels=["table"])
        keys.add_metric(["scorer-accounts"], in_memory)
        keys.add_metric(["account-state"], state_rows)
        for name, table in list(self.tables.items()):
            n = None if name == "account-state" else _estimate_keys(table)
            if n is not None:
                keys.add_metric([name], n)
        yield keys


_bound: list[StateCollector] = []


def bind(step: ScoreStep, tables: Mapping[str, Any]) -> None:
    """Register the scrape-time collector for a worker's score step and tables (once per process)."""
    if _bound:
        _bound[0].step, _bound[0].tables = step, tables
        return
    collector = StateCollector(step, tables)
    REGISTRY.register(collector)
    _bound.append(collector)
