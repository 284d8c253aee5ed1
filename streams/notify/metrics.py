"""Prometheus counters of the notifier (default registry), served by prometheus_client's own HTTP
server on `--metrics-port` / `PULSE_NOTIFIER_PORT`.

`pulse_notifier_delivery_seconds{channel}` is measured from the router's hand-off to the channel
stream (`handoff_at`) to the receiver's acceptance, so it includes queueing and retry backoff but
not the scoring pipeline's own delay before the alert reached the `alerts` topic.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

DELIVERED = Counter("pulse_notifier_delivered", "Alerts a channel accepted.", ["channel"])
RETRIED = Counter("pulse_notifier_retried", "Failed sends scheduled for another attempt.", ["channel"])
DEAD_LETTERED = Counter("pulse_notifier_dead_lettered",
                        "Deliveries moved to the dead-letter stream (attempts used up or permanent error).",
                        ["channel"])
SUPPRESSED = Counter("pulse_notifier_suppressed", "Deliveries not sent: already delivered or in cooldown.",
                     ["channel", "stage"])
ROUTED = Counter("pulse_notifier_routed", "Deliveries handed off to a channel stream by the router.",
                 ["channel"])
CONNECTION_ERRORS = Counter("pulse_notifier_connection_errors", "Connection errors to the Kafka broker "
                            "or Redis (logged once per outage, counted here).", ["service"])
MALFORMED = Counter("pulse_notifier_malformed", "Records on the alerts topic that are not valid alerts.")
LATENCY = Histogram("pulse_notifier_delivery_seconds",
                    "Seconds from the router's hand-off to the channel accepting the alert.", ["channel"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve `/metrics` in a background thread; port 0 serves nothing."""
    if port:
        start_http_server(port, addr=addr)
