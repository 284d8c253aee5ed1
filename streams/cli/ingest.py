"""`pulse ingest` (the Segment-compatible HTTP intake) and `pulse ingest hash-key`."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import typer

from streams.cli import app, bench_app
from streams.lifecycle import stop_on_signals
from streams.settings import get_settings

ingest_app = typer.Typer(
    help="Segment's HTTP tracking API (/v1/track ... /v1/batch) in front of the events topic.",
    invoke_without_command=True, no_args_is_help=False)
app.add_typer(ingest_app, name="ingest")


@ingest_app.callback()
def ingest(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="Write-key TOML (default: PULSE_INGEST_CONFIG)."),
    port: int | None = typer.Option(None, "--port", min=0, help="HTTP port (default: PULSE_INGEST_PORT)."),
    bind: str | None = typer.Option(None, "--bind", help="Address (default: PULSE_INGEST_BIND)."),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Serve Segment's tracking API; calls go to the events topic once Kafka acknowledges them.

    Without a sub-command: run the server. `pulse ingest hash-key` prints a key's hash for the
    write-key file.
    """
    if ctx.invoked_subcommand is not None:
        return
    from scoring.errors import ConfigError
    from streams.ingest.app import Ingest, IngestOptions
    from streams.ingest.auth import KeyRing
    from streams.ingest.config import load_config
    from streams.ingest.producer import KafkaWriter
    from streams.ingest.ratelimit import RateLimits
    from streams.kafka import ensure_topics_async
    from streams.topics import TopicNames

    s = get_settings()
    path = config or s.ingest_config
    if path is None:
        typer.echo("error: no write-key file: pass --config or set PULSE_INGEST_CONFIG "
                   "(see `pulse ingest hash-key --help`)", err=True)
        raise typer.Exit(2)
    try:
        key_config = load_config(path)
        keys = KeyRing(key_config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = TopicNames.from_settings(s)

    async def topics() -> None:  # no-op when the worker created them already
        await ensure_topics_async(s.bootstrap, [names.events, names.dlq], s.partitions)

    writer = KafkaWriter(s.bootstrap, send_timeout=s.ingest_send_timeout_seconds,
                         max_pending_bytes=s.ingest_max_pending_bytes, on_connect=topics)
    service = Ingest(keys, writer, IngestOptions(
        events_topic=names.events, dlq_topic=names.dlq, max_in_flight=s.ingest_max_in_flight,
        retry_after_seconds=s.ingest_retry_after_seconds,
        max_future_skew_seconds=s.max_future_skew_seconds), limits=RateLimits(key_config, time.monotonic()))
    host, listen = bind or s.ingest_bind, s.ingest_port if port is None else port
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    asyncio.run(_serve(service, host, listen, len(keys), path))


async def _serve(service: object, host: str, port: int, n_keys: int, path: Path) -> None:
    from streams.ingest.app import Ingest, start_server

    assert isinstance(service, Ingest)
    runner = await start_server(service, host, port)
    bound = runner.addresses[0][1] if runner.addresses else port
    limited = len(service.limits) if service.limits is not None else 0
    typer.echo(f"pulse ingest: http://{host}:{bound} ({n_keys} write key(s) from {path}, {limited} "
               f"rate-limited; events -> {service.opt.events_topic})", err=True)
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    typer.echo("pulse ingest: stopped", err=True)


@ingest_app.command("hash-key")
def hash_key_cmd(
    key: str | None = typer.Argument(None, help="The write key (default: read from stdin, or "
                                     "--generate)."),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="Take the salt from this write-key file."),
    salt: str | None = typer.Option(None, "--salt", help="The salt (hex) instead of --config."),
    generate: bool = typer.Option(False, "--generate",
                                  help="Make a new random write key and print it too."),
    new_salt: bool = typer.Option(False, "--new-salt",
                                  help="Print a new random salt for a new file and exit."),
) -> None:
    """Print `key_hash = "..."` for a source of the write-key file (HMAC-SHA256 under its salt)."""
    from scoring.errors import ConfigError
    from streams.ingest import auth
    from streams.ingest.config import read_salt

    if new_salt:
        typer.echo(f'salt = "{auth.new_salt()}"')
        return
    try:
        the_salt = salt if salt is not None else read_salt(config) if config is not None else None
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if the_salt is None:
        typer.echo("error: give --config FILE (its salt) or --salt HEX", err=True)
        raise typer.Exit(2)
    try:
        bytes.fromhex(the_salt)
    except ValueError:
        typer.echo("error: the salt must be hex", err=True)
        raise typer.Exit(2) from None
    if generate:
        key = auth.new_key()
        typer.echo(f"# write key (give it to the client; it is not stored): {key}")
    elif key is None:
        key = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt(
            "write key", hide_input=True)
    if not key:
        typer.echo("error: empty write key", err=True)
        raise typer.Exit(2)
    typer.echo(f'key_hash = "{auth.hash_key(the_salt, key)}"')


@bench_app.command("ingest")
def bench_ingest(
    events: int = typer.Option(100_000, help="Generated events."),
    accounts: int = typer.Option(2_000, help="Accounts in the generated telemetry."),
    clients: int = typer.Option(8, help="Concurrent HTTP clients."),
    batch: int = typer.Option(100, help="Calls per /v1/batch request."),
    partitions: int = typer.Option(4, help="Partitions of the events topic."),
) -> None:
    """Events/s and request p50/p99 through `pulse ingest`, beside `pulse produce`; print JSON."""
    import json

    from streams.dev.bench_ingest import run

    result = run(get_settings().bootstrap, events, accounts, clients, batch, partitions)
    typer.echo(json.dumps(result, indent=2))
