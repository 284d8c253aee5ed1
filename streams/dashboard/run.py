"""Wire the dashboard together and serve it until interrupted."""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web
from aiokafka.errors import KafkaError

from scoring.errors import ConfigError, PulseRuntimeError
from scoring.model import Model
from streams.dashboard.alerts import AlertBook
from streams.dashboard.derive import Deriver
from streams.dashboard.follow import Follower
from streams.dashboard.model import ReadModel
from streams.dashboard.server import Dashboard
from streams.dashboard.views import Views
from streams.kafka import ensure_topics_async
from streams.lifecycle import stop_on_signals
from streams.offline.report import histogram_edges
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger("pulse.dashboard")


def build(s: Settings, model: Model, sweep_seconds: int = 86400) -> Dashboard:
    names = TopicNames.from_settings(s)
    rm = ReadModel(s.dashboard_history_days, always=("plan", "industry", s.dashboard_owner_trait),
                   hist_edges=histogram_edges(model.bands.at_risk_below, model.bands.green_max, 10),
                   weights=dict(model.weights),
                   trend_days=model.explain_config.trend_days if model.explain_config is not None else 7)
    book = AlertBook()
    follower = Follower(s.bootstrap, names.account_state_changelog, names.alerts, names.dashboard_history, rm,
                        Deriver(model, sweep_seconds), book, flush_seconds=s.dashboard_flush_seconds,
                        derive_seconds=s.dashboard_derive_seconds, derive_share=s.dashboard_derive_share,
                        max_behind=s.dashboard_max_behind)
    views = Views(rm, book, model, owner_trait=s.dashboard_owner_trait)
    return Dashboard(views, follower, s.redis, s.dashboard_redis_prefix)


async def serve(s: Settings, model: Model, *, port: int, bind: str, sweep_seconds: int = 86400) -> None:
    """Serve until SIGINT/SIGTERM. Raises `PulseRuntimeError` (Kafka not reachable, the port taken)
    or `ConfigError` (PULSE_DASHBOARD_HISTORY_DAYS below 90) with a message saying what to do."""
    if s.dashboard_history_days < 90:
        raise ConfigError(f"PULSE_DASHBOARD_HISTORY_DAYS={s.dashboard_history_days}: at least 90 days "
                          "are kept", key="PULSE_DASHBOARD_HISTORY_DAYS")
    if s.dashboard_nice > 0:
        os.nice(s.dashboard_nice)  # a read side: on a shared host the worker beside it goes first
    names = TopicNames.from_settings(s)
    try:
        await ensure_topics_async(s.bootstrap, [names.dashboard_history], 1,
                                  {"cleanup.policy": "compact", "segment.ms": "3600000"})
    except (KafkaError, OSError) as exc:
        raise PulseRuntimeError(f"Kafka at {s.bootstrap} cannot be reached ({exc}): start it "
                                "(`pulse stack up`) or set KAFKA_BOOTSTRAP") from None
    dash = build(s, model, sweep_seconds)
    runner = web.AppRunner(dash.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, bind, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise PulseRuntimeError(f"cannot listen on {bind}:{port} ({exc.strerror}): choose another "
                                "with --port or PULSE_DASHBOARD_PORT") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"dashboard: http://{bind}:{bound}/", flush=True)
    stop = stop_on_signals()
    starter = asyncio.create_task(dash.follower.start())
    try:
        await stop.wait()
    finally:
        starter.cancel()
        await asyncio.gather(starter, return_exceptions=True)
        await dash.follower.stop()
        await runner.cleanup()
