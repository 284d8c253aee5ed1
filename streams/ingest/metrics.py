"""`pulse_ingest_*` Prometheus metrics, served at the ingest's `/metrics`.

One registry per process (its own, not prometheus_client's default one, so that several ingest
apps in one test process do not collide). Counted per request, never per event: the handlers
add totals.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("pulse_ingest_requests", "HTTP requests by path and answer status.",
                                ["path", "status"], registry=r)
        self.events = Counter("pulse_ingest_events", "Calls received, by outcome: accepted = written to "
                              "`events`; rejected = invalid, written to `events-dlq`.", ["outcome"],
                              registry=r)
        self.rejected = Counter("pulse_ingest_rejected", "Rejected calls by the parser's reason code.",
                                ["reason"], registry=r)
        self.records = Counter("pulse_ingest_records", "Kafka records written (batch envelopes to "
                               "`events`, dead letters to `events-dlq`).", ["topic"], registry=r)
        self.latency = Histogram("pulse_ingest_request_seconds", "Seconds from a request's arrival to its "
                                 "answer (for a 200: Kafka acknowledged every record).", ["path"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rate_limited = Counter("pulse_ingest_rate_limited", "Requests answered 429: the source was "
                                    "over its rate limit.", ["source"], registry=r)
        self.in_flight = Gauge("pulse_ingest_in_flight", "Requests being handled now.", registry=r)
        self.pending_bytes = Gauge("pulse_ingest_pending_bytes", "Bytes sent to Kafka and not yet "
                                   "acknowledged.", registry=r)
        self.kafka_ready = Gauge("pulse_ingest_kafka_ready", "1 when the Kafka producer is connected and "
                                 "its last send succeeded.", registry=r)
        for outcome in ("accepted", "rejected"):
            self.events.labels(outcome)
