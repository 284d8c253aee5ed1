"""The worker's own web views, on Faust's web server (`PULSE_WEB_PORT`):

- `/metrics`  Prometheus text format: every `pulse_*` metric of `streams.worker.metrics`;
- `/lag`      JSON: Burrow status per partition of this worker's consumer group, on `events`
              and `scored`, from a `LagMonitor` the worker runs in the background (every
              `PULSE_LAG_INTERVAL` seconds, a window of `PULSE_LAG_SAMPLES` commits); it also
              sets the `pulse_consumer_lag*` gauges for the partitions assigned to this worker
              (so with several workers every partition is reported once, `sum by` is right);
- `/pulse/consumer` JSON: the consumer class, its drain-loop counters and, per partition, Faust's
              commit bookkeeping (committed / read offsets, acked, gaps, a running commit:
              `streams.worker.commits`);
- `/healthz`  liveness: 200 while the event loop answers;
- `/ready`    readiness: 200 once the worker has joined its consumer group (a first assignment,
              even an empty one: a standby is ready) and is not rebalancing or recovering tables;
              503 otherwise.

Faust registers no `/metrics` of its own (its optional JSON view is `/performance`, and its
Prometheus sensor, which crashes on `highwater() = None`, faust #214, is not installed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from streams.worker import metrics
from streams.worker.commits import bookkeeping, broker_committed, commit_awaits
from streams.worker.lagmon import LagMonitor

log = logging.getLogger("pulse.web")


def readiness(app: Any, assigned_once: bool) -> tuple[bool, str]:
    if app.should_stop:
        return False, "stopping"
    if not app.started or not assigned_once:
        return False, "starting: joining the consumer group"
    if getattr(app, "rebalancing", False):
        return False, "rebalancing"
    if getattr(app, "in_recovery", False):
        return False, "recovering tables"
    return True, "ready"


def assigned(app: Any) -> set[tuple[str, int]]:
    """The (topic, partition)s this worker consumes now (none while it is not started)."""
    try:
        return {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
    except Exception:  # the consumer thread not running yet / being rebalanced
        return set()


def register_web(app: faust.App, bootstrap: str, topics: list[str], *, lag_interval: float = 5.0,
                 lag_samples: int = 10, lag_allowed: int = 0) -> LagMonitor:
    """Add the views and the background lag sampler to `app`; returns the monitor."""
    group = app.conf.id
    monitor = LagMonitor(bootstrap, {group: topics}, samples=lag_samples, interval=lag_interval,
                         allowed_lag=lag_allowed)
    joined = asyncio.Event()  # set by the first partition assignment (even an empty one)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        joined.set()

    @app.page("/metrics")
    async def metrics_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # aiohttp refuses a charset inside content_type: pass the whole header instead
        body = generate_latest(metrics.REGISTRY)
        return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    @app.page("/lag")
    async def lag_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.json({"group": group, **monitor.snapshot()})

    @app.page("/pulse/consumer")
    async def consumer_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        """Which consumer class runs, and how its drain loop delivered records (transport.py)."""
        consumer = app.consumer
        return self.json({"class": f"{type(consumer).__module__}.{type(consumer).__qualname__}",
                          "fast": getattr(consumer, "fast", None),
                          "suspended": getattr(consumer, "suspended", None),
                          "coalesced_batches": getattr(consumer, "coalesced_batches", None),
                          "coalesced_records": getattr(consumer, "coalesced_records", None),
                          "kept_seek_offsets": getattr(consumer, "kept_seek_offsets", None),
                          "straddled_fetches": getattr(consumer, "straddled_fetches", None),
                          "dropped_after_seek": getattr(consumer, "dropped_after_seek", None),
                          "reseeks": getattr(consumer, "reseeks", None),
                          "kept_on_resume": getattr(app.flow_control, "kept", None),
                          "commits": getattr(consumer, "commits", None),
                          "refused_commits": getattr(consumer, "refused_commits", None),
                          "abandoned_commits": getattr(consumer, "abandoned_commits", None),
                          "partitions": bookkeeping(consumer, broker=broker_committed(monitor)),
                          "commit_awaits": commit_awaits(consumer)})

    @app.page("/healthz")
    async def healthz_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.json({"status": "ok"})

    @app.page("/ready")
    async def ready_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ok, why = readiness(app, joined.is_set())
        return self.json({"ready": ok, "status": why}, status=200 if ok else 503)

    @app.task  # type: ignore[untyped-decorator]
    async def lag_sampler() -> None:
        started = False
        try:
            while not app.should_stop:
                try:
                    if not started:
                        await monitor.start()
                        started = True
                    rows = await monitor.poll()
                    mine = assigned(app)
                    metrics.set_lag(r for r in rows if (r.topic, r.partition) in mine)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker away: keep the last evaluation, say why
                    monitor.error = f"{type(exc).__name__}: {exc}"
                    log.warning("lag monitor: %s", monitor.error)
                    if not started:
                        await monitor.stop()
                await asyncio.sleep(monitor.interval)
        finally:
            if started:
                await monitor.stop()

    return monitor
