"""The `pulse` command line: one typer app, each command group in its own module.

Modules under `streams/cli/` add their commands to `app` or to one of the
shared groups below when `_register()` imports them:

- `replay.py`  `pulse replay`, `pulse report`
- `stack.py`   `pulse stack up|down|status|logs`
- `stream.py`  `pulse worker`, `pulse produce`, `pulse alerts tail`, `pulse scores export`,
               `pulse bench stream`
- `notify.py`  `pulse notifier`, `pulse alerts dlq ...`
- `lag.py`     `pulse lag`
- `ingest.py`  `pulse ingest`, `pulse ingest hash-key`, `pulse bench ingest`
- `dashboard.py` `pulse dashboard`
- `chaos.py`   `pulse bench chaos` (runs tests/chaos from the checkout)
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="pulse",
    help="Pulse: real-time customer engagement and health scoring on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
alerts_app = typer.Typer(help="Read and manage alerts.", no_args_is_help=True)
scores_app = typer.Typer(help="Read account scores from a running pipeline.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print JSON.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(scores_app, name="scores")
app.add_typer(bench_app, name="bench")

_COMMAND_MODULES = ("replay", "stack", "stream", "notify", "lag", "ingest", "dashboard", "chaos")


def _register() -> None:
    """Import the command modules; each adds its commands to the apps above."""
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"streams.cli.{name}")
        except ModuleNotFoundError as exc:  # a command group not written yet
            if exc.name != f"streams.cli.{name}":
                raise


def main() -> None:
    _register()
    app()
