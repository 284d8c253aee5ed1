"""`pulse stack up|down|status|logs`: the local real Kafka + Redis."""

from __future__ import annotations

import json
import subprocess

import typer
from rich.console import Console
from rich.table import Table

from scoring.errors import StackError
from streams.cli import app
from streams.dev import stack as st
from streams.kafka import ensure_topics, kafka_auth
from streams.settings import Settings, get_settings
from streams.topics import TopicNames

stack_app = typer.Typer(help="The local real stack: Apache Kafka (KRaft) from Maven Central and Redis.",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
out = Console()


SECURE_HELP = ("The secure stack (.pulse/secure): Kafka on SASL_SSL with SCRAM-SHA-512 and a generated CA, "
               "Redis with an ACL user (default: PULSE_STACK_SECURE).")


def _settings(secure: bool) -> Settings:
    s = get_settings()
    return s.model_copy(update={"stack_secure": True}) if secure else s


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _table(rows: list[st.ServiceStatus]) -> Table:
    t = Table("service", "address", "started by", "pid", "answering", "detail")
    for r in rows:
        t.add_row(r.name, r.address, "pulse stack" if r.managed else "env (external)",
                  str(r.pid or "-"), "[green]yes[/green]" if r.answering else "[red]no[/red]", r.detail)
    return t


@stack_app.command("up")
def up(
    partitions: int = typer.Option(None, "--partitions", "-p", min=1,
                                   help="Partitions of the standard topics (default: PULSE_PARTITIONS)."),
    topics: bool = typer.Option(True, "--topics/--no-topics", help="Create events, events-dlq, alerts."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for readiness."),
    secure: bool = typer.Option(False, "--secure", help=SECURE_HELP),
) -> None:
    """Start Kafka and Redis (idempotent) and wait until both answer; create the standard topics."""
    s = _settings(secure)
    try:
        rows = st.up(s, timeout=timeout)
        if topics:
            names = TopicNames.from_settings(s).public()
            created = ensure_topics(s.bootstrap, names, partitions or s.partitions,
                                    auth=kafka_auth(st.client_settings(s)))
            rows[0].detail += f"; topics created: {', '.join(created) or 'none (all exist)'}"
        env_file = st.secure_env(s)[1] if s.stack_secure else None
    except StackError as exc:
        _fail(exc)
    out.print(_table(rows))
    if env_file is not None:
        out.print(f"clients of the secure stack need its CA and credentials: set -a; . {env_file}; set +a")


@stack_app.command("down")
def down(secure: bool = typer.Option(False, "--secure", help=SECURE_HELP)) -> None:
    """Stop the Kafka broker and Redis that `pulse stack up` started (by pid). Data is kept."""
    try:
        stopped = st.down(_settings(secure))
    except StackError as exc:
        _fail(exc)
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing to stop")


@stack_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           secure: bool = typer.Option(False, "--secure", help=SECURE_HELP)) -> None:
    """Show both services: address, pid, whether they answer, Kafka's cluster id. Exit 1 if one is down."""
    rows = st.status(_settings(secure))
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in rows]))
    else:
        out.print(_table(rows))
    if not all(r.answering for r in rows):
        raise typer.Exit(1)


@stack_app.command("logs")
def logs(
    service: str = typer.Argument("kafka", help="kafka or redis"),
    lines: int = typer.Option(50, "--lines", "-n"),
    follow: bool = typer.Option(False, "--follow", "-f"),
    secure: bool = typer.Option(False, "--secure", help=SECURE_HELP),
) -> None:
    """Print the last lines of a service's log (use -f to follow)."""
    if service not in ("kafka", "redis"):
        _fail(StackError(f"unknown service {service!r}: use kafka or redis"))
    log = st.paths_for(_settings(secure)).log_file(service)
    if not log.exists():
        _fail(StackError(f"no log yet at {log}: run `pulse stack up` first"))
    subprocess.run(["tail", f"-n{lines}", *(["-f"] if follow else []), str(log)], check=False)
