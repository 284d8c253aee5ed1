"""`pulse replay`: backtest a scoring model on a file of events."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from scoring.errors import ModelError
from scoring.model import load_model
from streams.cli import app
from streams.replay import replay as run_replay
from streams.settings import get_settings

err = Console(stderr=True)


@app.command()
def replay(
    events: Path = typer.Argument(..., help="Events file: JSONL (or .jsonl.gz), one Segment event "
                                  "or {\"batch\": [...]} envelope per line, in arrival order."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created if missing)."),
    model: Path | None = typer.Option(None, "--model", "-m",
                                      help="Scoring model TOML (default: $PULSE_MODEL or the "
                                      "packaged default)."),
    sweep_seconds: int = typer.Option(86400, "--sweep-seconds", min=1,
                                      help="Sweep period in event time (86400: every midnight UTC)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bar (default: when stderr is a terminal)."),
) -> None:
    """Run the scoring core over EVENTS and write scores.jsonl, changes.jsonl and summary.json to OUT.

    The same input and model always give byte-identical files. No Kafka needed.
    """
    try:
        m = load_model(model or get_settings().model)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not events.is_file():
        typer.echo(f"error: {events}: no such file", err=True)
        raise typer.Exit(2)
    show = sys.stderr.isatty() if progress is None else progress
    size = events.stat().st_size
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
        task = bar.add_task(f"replay {events.name}", total=size)
        result = run_replay(events, m, out, sweep_seconds=sweep_seconds,
                            on_progress=lambda pos: bar.update(task, completed=pos))
    s = result.summary
    scored = s["accepted"] + s["duplicate"] + s["late"]
    table = Table(title=f"pulse replay → {out}", show_header=False)
    for key in ("accepted", "duplicate", "late", "invalid", "accounts", "changes"):
        table.add_row(key, f"{s[key]:,}")
    table.add_row("event time covered", f"{s['seconds'] / 86400:,.1f} days")
    table.add_row("wall time", f"{result.wall_seconds:.2f} s "
                  f"({scored / max(result.wall_seconds, 1e-9):,.0f} scored events/s)")
    if result.invalid_reasons:
        table.add_row("invalid by reason", ", ".join(
            f"{k}={v}" for k, v in result.invalid_reasons.items()))
    err.print(table)
