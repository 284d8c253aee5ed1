"""The whole worker, wired: the Faust app (`app`), the steps (`resolve`, `score`), the agents
that move records between them and Kafka (`agents`), the web views and the metrics (`web`,
`metrics`). `pulse worker` runs what `build_worker` returns."""

from __future__ import annotations

import faust

from streams.worker import commits, metrics, transport
from streams.worker.agents import register_agents
from streams.worker.app import WorkerConfig, create_app, declare
from streams.worker.gctune import GcPolicy, RebalanceSensor
from streams.worker.score import ScoreStep
from streams.worker.web import register_web


def build_worker(cfg: WorkerConfig) -> faust.App:
    app = create_app(cfg)
    topology = declare(app, cfg)
    transport.coalesce(app, {cfg.names.events})  # one Faust message per partition per fetch
    states = topology.states
    score_step = ScoreStep(cfg.model, cfg.sweep_seconds, load=lambda partition: states.items(),
                           on_restore=metrics.track)
    s = cfg.settings
    gc_policy = GcPolicy(s.worker_gc_freeze_seconds, s.worker_gc_threshold, s.worker_gc_thaw_seconds)
    gc_policy.apply()
    register_agents(app, cfg, topology, score_step, gc_policy)
    if gc_policy.freezing:
        app.sensors.add(RebalanceSensor(gc_policy))

        @app.timer(interval=gc_policy.freeze_seconds)  # type: ignore[untyped-decorator]
        async def gc_freeze() -> None:
            gc_policy.freeze()

    metrics.bind(score_step, app.tables)
    names = cfg.names
    monitor = register_web(app, s.bootstrap, [names.events, names.scored], lag_interval=s.lag_interval,
                           lag_samples=s.lag_samples, lag_allowed=s.lag_allowed)
    commits.install(app, s.worker_commit_stall_seconds, monitor)
    return app
