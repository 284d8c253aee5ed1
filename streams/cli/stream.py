"""`pulse worker`, `pulse produce`, `pulse alerts tail`, `pulse scores export`."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from scoring.errors import ModelError
from scoring.model import Model, load_model
from streams.cli import alerts_app, app, bench_app, scores_app
from streams.settings import get_settings

err = Console(stderr=True)


def _model(path: Path | None) -> Model:
    try:
        return load_model(path or get_settings().model)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _web_port(port: int) -> int:
    """`0` means any free port (Faust itself wants 1..65535): ask the kernel for one."""
    if port:
        return port
    from streams.dev.stack import free_port

    free = free_port()
    err.print(f"worker web port: {free}")
    return free


@app.command()
def worker(
    model: Path | None = typer.Option(None, "--model", "-m", help="Scoring model TOML."),
    partitions: int | None = typer.Option(None, "--partitions", "-p", min=1,
                                   help="Partitions of the pipeline's topics (default: PULSE_PARTITIONS)."),
    live: bool = typer.Option(False, "--live", help="Also sweep on wall-clock ticks, so silence is "
                              "noticed when no events arrive."),
    sweep_seconds: int | None = typer.Option(
        None, "--sweep-seconds", min=1, help="Sweep period in event time (default: PULSE_SWEEP_SECONDS)."),
    web_port: int | None = typer.Option(None, "--web-port", min=0,
                                 help="Web port (default: PULSE_WEB_PORT; 0: any free port)."),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Run the streaming worker: events -> resolve -> scored -> score -> alerts."""
    from faust.worker import Worker

    from streams.topics import create_topics
    from streams.worker.app import WorkerConfig
    from streams.worker.main import build_worker

    s = get_settings()
    port = _web_port(s.web_port if web_port is None else web_port)
    cfg = WorkerConfig.from_settings(s, _model(model), partitions=partitions, sweep_seconds=sweep_seconds,
                                     live=live, web_port=port)
    create_topics(s, cfg.partitions)
    faust_app = build_worker(cfg)
    logging.getLogger("pulse").setLevel(loglevel.upper())
    from streams.outage import KAFKA_LOGGERS, OutageLog, tcp_probe
    from streams.worker import metrics

    # a broker outage: one line when it goes, one when it is back, a counter in between
    outage = OutageLog(on_error=lambda service: metrics.CONNECTION_ERRORS.labels(service).inc())
    outage.install((*KAFKA_LOGGERS, "pulse.web", "pulse.worker", "pulse.lag"))

    @faust_app.task  # type: ignore[untyped-decorator]
    async def outage_watch() -> None:
        await outage.watch({"kafka": tcp_probe(s.bootstrap)})

    try:
        import uvloop

        uvloop.install()  # a faster event loop: the worker is bound by per-record asyncio work
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
        pass
    w = Worker(faust_app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG, so every debug record of aiokafka
    # and faust is built and then dropped (a large share of the worker's CPU: docs/benchmarks.md).
    w.spinner = None
    w.execute_from_commandline()


@app.command()
def produce(
    events: Path = typer.Argument(..., help="JSONL or .jsonl.gz, one event (or batch envelope) per line."),
    topic: str = typer.Option(None, help="Topic (default: <prefix>events)."),
    rate: float = typer.Option(None, help="Limit to this many events per second."),
) -> None:
    """Send a file of events to the events topic, keyed by userId / anonymousId."""
    from streams.dev.produce import produce_file
    from streams.kafka import ensure_topics
    from streams.topics import TopicNames

    s = get_settings()
    if not events.is_file():
        typer.echo(f"error: {events}: no such file", err=True)
        raise typer.Exit(2)
    topic = topic or TopicNames.from_settings(s).events
    ensure_topics(s.bootstrap, [topic], s.partitions)  # no-op when it exists
    with Progress(TextColumn("produce"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[n]} events"),
                  TimeRemainingColumn(), console=err, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("produce", total=events.stat().st_size, n=0)
        n = asyncio.run(produce_file(events, s.bootstrap, topic, rate=rate,
                                     on_progress=lambda pos, k: bar.update(task, completed=pos, n=k)))
    err.print(f"sent {n:,} events to {topic}")


@alerts_app.command("tail")
def alerts_tail(
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest alert."),
    as_json: bool = typer.Option(False, "--json", help="Print each alert as one JSON line."),
    idle_exit: float = typer.Option(None, "--idle-exit", help="Stop after this many quiet seconds."),
    max_alerts: int = typer.Option(None, "--max", help="Stop after this many alerts."),
) -> None:
    """Print alerts as they arrive on the alerts topic."""
    from streams.cli.tail import pretty, tail
    from streams.topics import TopicNames

    s = get_settings()

    def emit(value: bytes) -> None:
        typer.echo(value.decode() if as_json else pretty(value))

    n = asyncio.run(tail(s.bootstrap, TopicNames.from_settings(s).alerts, from_beginning=from_beginning,
                         idle_exit=idle_exit, emit=emit, max_alerts=max_alerts))
    err.print(f"{n} alert(s)")


@scores_app.command("export")
def scores_export(
    out: Path = typer.Argument(..., help="Output file (replay's scores.jsonl format)."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Scoring model TOML. Default: the model the worker recorded in its "
        "state; a different model is refused unless --force."),
    force: bool = typer.Option(False, "--force", help="Score the worker's state with --model even if "
                               "it is not the model the worker ran."),
    sweep_seconds: int | None = typer.Option(
        None, "--sweep-seconds", min=1, help="The worker's sweep period (default: PULSE_SWEEP_SECONDS)."),
    health: Path | None = typer.Option(
        None, "--health", help="Also write each account's health score here (replay's "
        "health_scores.jsonl format; a model with [health])."),
) -> None:
    """Every account's score and band as of its partition's clock (no running worker needed)."""
    from scoring.errors import ModelError
    from streams.offline.export import export_scores

    m = _model(model) if model is not None else None
    if health is not None and m is not None and m.health is None:
        err.print(f"[red]--health: the model has no \\[health] table[/red] ({model})")
        raise typer.Exit(2)
    s = get_settings()
    sweep = s.sweep_seconds if sweep_seconds is None else sweep_seconds
    try:
        n = asyncio.run(export_scores(s, m, sweep, out, health, force=force))
    except ModelError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    err.print(f"wrote {n:,} accounts to {out}" + (f" and their health to {health}" if health else ""))


@bench_app.command("stream")
def bench_stream(
    events: int = typer.Option(200_000, help="Generated events (1,000,000 for the full figure)."),
    accounts: int = typer.Option(20_000, help="Accounts in the generated telemetry."),
    partitions: int = typer.Option(1, help="Partitions of the pipeline's topics."),
    envelopes: bool = typer.Option(False, help="Send half of the events in batch envelopes."),
    latency_rate: float = typer.Option(5000, help="Events/s during the latency phase."),
    latency_seconds: float = typer.Option(20, help="Length of the latency phase (0: skip)."),
    latency_warmup: float = typer.Option(5, help="Seconds at the same rate before the latency phase, "
                                         "reported apart (the first live event's catch-up sweeps)."),
    quix: bool = typer.Option(True, help="Also run the Quix Streams baselines (floor and the same job)."),
    floors: bool = typer.Option(True, help="Run the aiokafka, Faust (and Quix) floors; --no-floors: "
                                "only the pipeline (for before/after runs)."),
    dashboard: bool = typer.Option(False, help="Have a `pulse dashboard` follow the pipeline (same prefix) "
                                   "while it runs, to measure what it costs the worker."),
    guarantee: list[str] = typer.Option(
        ["at_least_once"], help="Run the pipeline with this processing guarantee (at_least_once or "
        "exactly_once); repeat the option to compare them in one run, each on fresh topics."),
    hostile_fraction: float = typer.Option(
        0.0, min=0.0, max=0.5, help="Also run the pipeline (first --guarantee) over the same number of "
        "records with this fraction replaced by hostile corpus cases (tests/data/hostile), e.g. 0.01."),
) -> None:
    """Time the Pulse pipeline against a plain aiokafka loop, the Faust floor and Quix Streams (its
    floor and the same job like for like) on the same broker and data; print JSON with every ratio."""
    import json

    from streams.dev.bench import run

    bad = [g for g in guarantee if g not in ("at_least_once", "exactly_once")]
    if bad:
        err.print(f"[red]--guarantee {bad[0]!r}: not at_least_once or exactly_once[/red]")
        raise typer.Exit(2)
    typer.echo(json.dumps(run(get_settings().bootstrap, events, accounts, partitions, latency_rate,
                              latency_seconds, envelopes=envelopes, quix=quix, dashboard=dashboard,
                              floors=floors, lat_warmup=latency_warmup, guarantees=tuple(guarantee),
                              hostile_fraction=hostile_fraction), indent=2))
