"""`pulse notifier` and `pulse alerts dlq list | retry | purge`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from scoring.errors import ConfigError
from streams.cli import alerts_app, app
from streams.settings import get_settings, redact_url
from streams.topics import TopicNames

T = TypeVar("T")
dlq_app = typer.Typer(help="The notifier's dead-letter stream in Redis: list, retry, purge.",
                      no_args_is_help=True)
alerts_app.add_typer(dlq_app, name="dlq")

CONFIG_HELP = "Notifier TOML (tables notifier, channels.NAME, routes; default: PULSE_NOTIFIER_CONFIG)."
PREFIX_HELP = "Redis key prefix (default: the config's notifier.redis_prefix, else 'pulse:')."


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(2)


def _load(path: Path | None, required: bool) -> Any:
    from streams.notify.config import NotifierConfig, load_config

    path = path or get_settings().notifier_config
    if path is None:
        if required:
            raise _fail("no notifier config: pass --config FILE or set PULSE_NOTIFIER_CONFIG "
                        "(see deploy/notifier.example.toml)")
        return NotifierConfig()
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)


@app.command()
def notifier(
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    role: str = typer.Option("all", "--role", help="all: router + delivery workers; router: only "
                             "alerts topic -> Redis streams; worker: only Redis streams -> channels."),
    topic: str | None = typer.Option(None, "--topic", help="Alerts topic (default: <prefix>alerts)."),
    group: str | None = typer.Option(None, "--group",
                                     help="Kafka consumer group (default: <prefix>notifier)."),
    redis_prefix: str | None = typer.Option(None, "--redis-prefix", help=PREFIX_HELP),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve /metrics on this port "
                                            "(0: off; default: PULSE_NOTIFIER_PORT, 6067)."),
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning, error."),
) -> None:
    """Deliver alerts: read the alerts topic in a consumer group, route each alert to channels,
    hand it off to a Redis Stream per channel, and deliver with dedup, cooldown, retries and a
    dead-letter stream. Stops cleanly on SIGINT/SIGTERM; a kill -9 loses nothing."""
    from streams.notify import metrics
    from streams.notify.channels import build_channel
    from streams.notify.runner import Endpoints, run

    if role not in ("all", "router", "worker"):
        raise _fail(f"--role must be all, router or worker, not {role!r}")
    logging.basicConfig(level=loglevel.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per POST otherwise
    from streams.outage import KAFKA_LOGGERS, OutageLog

    # a broker or Redis outage: one line when it goes, one when it is back, a counter in between
    outage = OutageLog(on_error=lambda service: metrics.CONNECTION_ERRORS.labels(service).inc())
    outage.install((*KAFKA_LOGGERS, "pulse.notifier"))
    s = get_settings()
    cfg = _load(config, required=True)
    if redis_prefix is not None:
        n = cfg.notifier.model_copy(update={"redis_prefix": redis_prefix})
        cfg = cfg.model_copy(update={"notifier": n})
    try:
        channels = {name: build_channel(name, c) for name, c in cfg.channels.items()}
    except (ConfigError, NotImplementedError) as exc:
        raise _fail(str(exc)) from None
    for r in cfg.effective_routes():
        logging.getLogger("pulse.notifier").info("route %s -> %s", r.name, ", ".join(r.channels))
    metrics.serve(s.notifier_port if metrics_port is None else metrics_port)
    names = TopicNames.from_settings(s)
    where = Endpoints(redis_url=s.redis, bootstrap=s.bootstrap, topic=topic or names.alerts,
                      group=group or names.notifier_group)
    from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        _run(run(cfg, channels, where, role=role, outage=outage))  # type: ignore[arg-type]
    except UnknownTopicOrPartitionError:
        raise _fail(f"the alerts topic {where.topic!r} does not exist at {s.bootstrap}: start a worker "
                    f"with the same PULSE_TOPIC_PREFIX (it creates the topics), or `pulse stack up`") \
            from None
    except RedisConnectionError as exc:
        raise _fail(f"cannot reach Redis at {s.redis_address}: {exc} (set REDIS_URL, or `pulse stack up`)") \
            from None
    except KafkaConnectionError as exc:
        raise _fail(f"cannot reach Kafka at {s.bootstrap}: {exc} (KAFKA_BOOTSTRAP; `pulse stack up`)") \
            from None


def _keys(config: Path | None, redis_prefix: str | None) -> Any:
    from streams.notify.keys import Keys

    if redis_prefix is None:
        redis_prefix = _load(config, required=False).notifier.redis_prefix
    return Keys(redis_prefix)


async def _with_redis(fn: Any) -> Any:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    url = get_settings().redis
    redis = Redis.from_url(url, decode_responses=True)
    try:
        return await fn(redis)
    except RedisConnectionError as exc:
        raise _fail(f"cannot reach Redis at {redact_url(url)}: {exc}") from None
    finally:
        await redis.aclose()


@dlq_app.command("list")
def dlq_list(
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    redis_prefix: str | None = typer.Option(None, "--redis-prefix", help=PREFIX_HELP),
    count: int | None = typer.Option(None, "--count", "-n", help="Show at most this many (oldest first)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Show dead-lettered deliveries: channel, alert, attempts and the last error."""
    from streams.notify import dlq

    keys = _keys(config, redis_prefix)
    rows = _run(_with_redis(lambda r: dlq.list_entries(r, keys, count)))
    for d in rows:
        j = d.as_json()
        if as_json:
            typer.echo(json.dumps(j, sort_keys=True))
        else:
            a = j["alert"] if isinstance(j["alert"], dict) else {}
            typer.echo(f"{j['id']}  {j['channel'] or '-':<14} {j['alert_id'] or '-':<32} "
                       f"{a.get('account', '-')!s:<14} {a.get('from') or '-'}->{a.get('to', '-')}  "
                       f"attempts={j['attempts']}  {j['last_error']}")
    typer.echo(f"{len(rows)} dead letter(s) in {keys.dlq()}", err=True)


@dlq_app.command("retry")
def dlq_retry(
    ids: list[str] = typer.Argument(None, help="Dead-letter ids (from `list`); none with --all."),
    all_: bool = typer.Option(False, "--all", help="Re-queue every dead letter."),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    redis_prefix: str | None = typer.Option(None, "--redis-prefix", help=PREFIX_HELP),
) -> None:
    """Put dead letters back on their channel's stream as fresh first attempts. Exits 1 when some
    could not be (an unknown id, or an entry that was never a valid alert: purge those)."""
    from streams.notify import dlq

    if bool(ids) == all_:
        raise _fail("give dead-letter ids or --all (not both)")
    keys = _keys(config, redis_prefix)
    done, problems = _run(_with_redis(lambda r: dlq.retry(r, keys, None if all_ else ids)))
    for p in problems:
        typer.echo(f"skipped {p}", err=True)
    typer.echo(f"re-queued {done} dead letter(s)", err=True)
    if problems:
        raise typer.Exit(1)


@dlq_app.command("purge")
def dlq_purge(
    ids: list[str] = typer.Argument(None, help="Dead-letter ids (from `list`); none with --all."),
    all_: bool = typer.Option(False, "--all", help="Delete every dead letter."),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    redis_prefix: str | None = typer.Option(None, "--redis-prefix", help=PREFIX_HELP),
) -> None:
    """Delete dead letters for good."""
    from streams.notify import dlq

    if bool(ids) == all_:
        raise _fail("give dead-letter ids or --all (not both)")
    keys = _keys(config, redis_prefix)
    n = _run(_with_redis(lambda r: dlq.purge(r, keys, None if all_ else ids)))
    typer.echo(f"purged {n} dead letter(s)", err=True)
