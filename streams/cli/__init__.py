"""The `pulse` command line: one typer app, each command group in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pulse",
    help="Pulse: real-time customer engagement and health scoring on Kafka.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    """Import the command modules; each adds its commands to `app`."""
    import importlib

    for name in ("replay", "stack", "stream", "notify"):
        try:
            importlib.import_module(f"streams.cli.{name}")
        except ModuleNotFoundError as exc:  # a command group not written yet
            if exc.name != f"streams.cli.{name}":
                raise


def main() -> None:
    _register()
    app()
