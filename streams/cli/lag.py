"""`pulse lag`: consumer lag per partition with Burrow's status (see `streams.worker.lagmon`)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from streams.cli import app
from streams.settings import get_settings
from streams.worker.lagmon import LagMonitor, PartitionStatus, worst

STYLE = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "bold red", "REWIND": "bold magenta",
         "ERR": "bold magenta"}


def lag_table(rows: list[PartitionStatus], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("group", "topic", "partition", "committed", "end offset", "lag", "status"):
        table.add_column(col, justify="left" if col in ("group", "topic", "status") else "right")
    for r in rows:
        table.add_row(r.group, r.topic, str(r.partition), "-" if r.committed is None else f"{r.committed:,}",
                      f"{r.end:,}", f"{r.lag:,}", f"[{STYLE.get(r.status, '')}]{r.status}[/]")
    return table


async def _run(monitor: LagMonitor, polls: int | None, emit_json: bool,
               console: Console) -> list[PartitionStatus]:
    """Poll `polls` times (None: forever) and return the last evaluation."""
    rows: list[PartitionStatus] = []
    async with monitor:
        n = 0
        while polls is None or n < polls:
            if n:
                await asyncio.sleep(monitor.interval)
            rows = await monitor.poll()
            n += 1
            if polls is None:  # --watch: print every round
                if emit_json:
                    typer.echo(json.dumps(monitor.snapshot()))
                else:
                    console.clear()
                    title = f"consumer lag (poll {n}, every {monitor.interval:g}s, window {monitor.size})"
                    console.print(lag_table(rows, title=title))
        if polls is not None and emit_json:
            typer.echo(json.dumps(monitor.snapshot(), indent=2))
    return rows


LAG_HELP = (
    "Committed offset, end offset, lag and Burrow status per partition of each consumer group.\n\n"
    "Polls the broker --samples times, --interval seconds apart (a first answer takes "
    "(samples - 1) x interval seconds), and evaluates each partition over that window with Burrow's "
    "rules: OK; STOP, no commit for longer than the window spans while lag > --allowed-lag (unless "
    "the consumer was caught up within the window's polls); REWIND, the committed offset went "
    "backwards and has not come back; STALL, the consumer is alive but its committed offset did not "
    "move; WARN, lag grew over the whole window. STALL and WARN need a full window. A group is OK, "
    "WARN or ERR (any STOP, STALL or REWIND partition).\n\n"
    "Exit status: 0 when every group is OK, 1 otherwise."
)


@app.command(help=LAG_HELP)
def lag(
    group: list[str] = typer.Option(None, "--group", "-g",
                                    help="Consumer group (repeatable). Default: every <prefix>* group."),
    samples: int = typer.Option(5, "--samples", "-n", min=2,
                                help="Sliding window: commits kept per partition (Burrow's intervals)."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.05, help="Seconds between broker polls."),
    allowed_lag: int = typer.Option(0, "--allowed-lag", min=0,
                                    help="Lag up to which a partition is never in error."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep polling, redraw the table (Ctrl-C stops)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one line per poll with --watch)."),
) -> None:
    """Committed offset, end offset, lag and Burrow status per partition of each consumer group."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # errors are reported below, once
    s = get_settings()
    groups: dict[str, list[str]] | None = {g: [] for g in group} if group else None
    monitor = LagMonitor(s.bootstrap, groups, prefix=s.topic_prefix, samples=samples, interval=interval,
                         allowed_lag=allowed_lag)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    try:
        rows = asyncio.run(_run(monitor, None if watch else samples, as_json, console))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (KafkaError, OSError) as exc:
        print(f"error: broker {s.bootstrap}: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if not as_json:
        if rows:
            console.print(lag_table(rows))
        else:
            print(f"no consumer group {'/'.join(group) if group else s.topic_prefix + '*'} "
                  "with committed offsets", file=sys.stderr)
    if worst(rows) != "OK":
        raise typer.Exit(1)
