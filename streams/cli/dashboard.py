"""`pulse dashboard`: the customer-success dashboard (streams/dashboard/, docs/dashboard.md)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from scoring.errors import PulseError
from streams.cli import app
from streams.settings import get_settings


@app.command()
def dashboard(
    model: Path | None = typer.Option(None, "--model", "-m",
                                      help="The worker's scoring model TOML (the same one the worker runs)."),
    port: int = typer.Option(None, "--port", min=0, help="HTTP port (default: PULSE_DASHBOARD_PORT, 6070)."),
    bind: str = typer.Option(None, "--bind", help="Address to listen on (default: PULSE_DASHBOARD_BIND)."),
    sweep_seconds: int | None = typer.Option(
        None, "--sweep-seconds", min=1, help="The worker's sweep period (default: PULSE_SWEEP_SECONDS)."),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Serve the dashboard: portfolio, at-risk list, account pages, PQLs, live alerts, JSON API.

    Reads the worker's account-state changelog and the alerts topic (no worker change, no other
    database); keeps each account's daily history in a compacted topic of its own.
    """
    from streams.cli.stream import _model
    from streams.dashboard.run import serve

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    s = get_settings()
    try:
        asyncio.run(serve(s, _model(model), port=s.dashboard_port if port is None else port,
                          bind=bind or s.dashboard_bind,
                          sweep_seconds=s.sweep_seconds if sweep_seconds is None else sweep_seconds))
    except PulseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
