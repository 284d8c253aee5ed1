"""`pulse replay`: backtest a scoring model on a file of events; `pulse report`: a portfolio report
(bands per segment, histogram, at-risk, PQLs, revenue KPIs) from a replay."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

import scoring
from scoring.errors import ConfigError, ModelError
from scoring.model import load_model
from scoring.timefmt import parse_iso_us
from streams.cli import app
from streams.offline.replay import replay as run_replay
from streams.offline.report import DEFAULT_SEGMENTS, build_report, parse_when, render_json, render_markdown
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
    sweep_seconds: int | None = typer.Option(
        None, "--sweep-seconds", min=1,
        help="Sweep period in event time (default: PULSE_SWEEP_SECONDS; 86400: every midnight UTC)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bar (default: when stderr is a terminal)."),
    now: str | None = typer.Option(None, "--now",
                                   help="The wall-clock instant (ISO-8601) the future-skew rule is "
                                   "checked against: events more than max_future_skew "
                                   "($PULSE_MAX_FUTURE_SKEW_SECONDS, default 300 s) after it are "
                                   "invalid. Default: the time the replay starts."),
) -> None:
    """Run the scoring core over EVENTS and write scores.jsonl, changes.jsonl and summary.json to OUT.

    The same input, model and --now always give byte-identical files. No Kafka needed.
    """
    settings = get_settings()
    try:
        m = load_model(model or settings.model)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    now_us = None if now is None else parse_iso_us(now)
    if now is not None and now_us is None:
        typer.echo(f"error: --now {now!r} is not an ISO-8601 time (YYYY-MM-DDTHH:MM:SS[.f][zone])",
                   err=True)
        raise typer.Exit(2)
    if not events.is_file():
        typer.echo(f"error: {events}: no such file", err=True)
        raise typer.Exit(2)
    show = sys.stderr.isatty() if progress is None else progress
    size = events.stat().st_size
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
        task = bar.add_task(f"replay {events.name}", total=size)
        result = run_replay(events, m, out, sweep_seconds=sweep_seconds or settings.sweep_seconds,
                            on_progress=lambda pos: bar.update(task, completed=pos), now_us=now_us,
                            max_future_skew_us=int(settings.max_future_skew_seconds * 1_000_000))
    s = result.summary
    scored = s["accepted"] + s["duplicate"] + s["late"]
    table = Table(title=f"pulse replay → {out}", show_header=False)
    for key in ("accepted", "duplicate", "late", "invalid", "accounts", "changes"):
        table.add_row(key, f"{s[key]:,}")
    table.add_row("event time covered", f"{s['seconds'] / 86400:,.1f} days")
    table.add_row("wall time", f"{result.wall_seconds:.2f} s "
                  f"({scored / max(result.wall_seconds, 1e-9):,.0f} scored events/s)")
    table.add_row("scoring", "compiled (mypyc)" if scoring.IMPLEMENTATION == "native" else
                  "pure Python (`make native` compiles it)")
    if result.invalid_reasons:
        table.add_row("invalid by reason", ", ".join(
            f"{k}={v}" for k, v in result.invalid_reasons.items()))
    err.print(table)


@app.command()
def report(
    events: Path = typer.Argument(..., help="Events file (JSONL or .jsonl.gz), as for `pulse replay`."),
    model: Path | None = typer.Option(None, "--model", "-m",
                                      help="Scoring model TOML (default: $PULSE_MODEL or the "
                                      "packaged default)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Write report.md and report.json here (created if missing). "
                                    "Without it the report goes to stdout in --format."),
    fmt: str = typer.Option("md", "--format", "-f", help="stdout format without --out: md or json."),
    segments: list[str] = typer.Option(list(DEFAULT_SEGMENTS), "--segment", "-s",
                                       help="Account trait (from group calls) to break bands "
                                       "down by; repeatable."),
    bins: int = typer.Option(10, "--bins", min=1,
                             help="Equal histogram bins between at_risk_below and green_max."),
    start: str | None = typer.Option(None, "--from",
                                     help="Revenue period start: YYYY-MM-DD (UTC) or ISO-8601 "
                                     "(default: the first event's time)."),
    end: str | None = typer.Option(None, "--to",
                                   help="Revenue period end, included: YYYY-MM-DD means the end of "
                                   "that day (default: the last event's time)."),
    sweep_seconds: int | None = typer.Option(
        None, "--sweep-seconds", min=1,
        help="Sweep period in event time, as for `pulse replay` (default: PULSE_SWEEP_SECONDS)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bar (default: when stderr is a terminal)."),
    now: str | None = typer.Option(None, "--now", help="As for `pulse replay`: the instant the "
                                   "future-skew rule is checked against (default: now)."),
) -> None:
    """Replay EVENTS with the model and report the portfolio: band distribution per segment, score
    histogram, at-risk accounts with reasons, product-qualified leads, revenue KPIs."""
    if fmt not in ("md", "json"):
        typer.echo(f"error: --format must be md or json, not {fmt!r}", err=True)
        raise typer.Exit(2)
    if not events.is_file():
        typer.echo(f"error: {events}: no such file", err=True)
        raise typer.Exit(2)
    try:
        m = load_model(model or get_settings().model)
        start_us = None if start is None else parse_when(start)
        end_us = None if end is None else parse_when(end, end=True)
        now_us = None if now is None else parse_when(now)
        settings = get_settings()
        show = sys.stderr.isatty() if progress is None else progress
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
            task = bar.add_task(f"report {events.name}", total=events.stat().st_size)
            rep = build_report(events, m, segments=segments, bins=bins, start_us=start_us,
                               end_us=end_us, sweep_seconds=sweep_seconds or settings.sweep_seconds,
                               on_progress=lambda pos: bar.update(task, completed=pos), now_us=now_us,
                               max_future_skew_us=int(settings.max_future_skew_seconds * 1_000_000))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if out is None:
        if fmt == "json":
            sys.stdout.buffer.write(render_json(rep))
        else:
            sys.stdout.write(render_markdown(rep))
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(render_markdown(rep), encoding="utf-8")
    (out / "report.json").write_bytes(render_json(rep))
    err.print(f"pulse report → {out / 'report.md'}, {out / 'report.json'}: {rep['accounts']} accounts, "
              f"{len(rep['at_risk'])} at risk, {len(rep['pql'])} PQLs")
