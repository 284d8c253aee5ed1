"""Broker and Redis outages in the log: one line when a service goes away, one when it is back.

While the Kafka broker is down, aiokafka retries every ~100 ms and logs every failed attempt at
ERROR from several loggers (`aiokafka`: "Unable connect to node", "Unable to update metadata";
`aiokafka.consumer.fetcher`: "Failed fetch messages"; `aiokafka.consumer.group_coordinator`:
"Group Coordinator Request failed"): about 70 lines a second from one worker, measured by
killing a broker under a worker. `OutageLog` is a `logging.Filter` on those loggers (and on any
logger of ours that reports a lost connection) that

- lets the first connection error through, reworded: "Kafka broker unreachable (since ...): ...";
- drops the repeats and counts them (`on_error(service)`: the services' Prometheus counter),
  with one reminder line every `remind_every` seconds ("still unreachable after 60 s, 4,210
  connection errors");
- logs "Kafka broker reachable again after 26.4 s (1,863 connection errors while down)" when a
  probe (`watch()`: a TCP connect to the broker, a Redis PING) answers again, or when the caller
  says so (`up(service)`); errors in the `settle` seconds after that (the group coordinator
  still loading) are counted, not taken for a new outage.

Records that are not connection errors pass untouched, so a real error is never hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("pulse.outage")

NAMES = {"kafka": "Kafka broker", "redis": "Redis"}
# The connection-failure messages of aiokafka (client, conn, fetcher, coordinator, producer
# sender) and of redis-py's exceptions as our code logs them.
_KAFKA = re.compile(
    r"Unable connect to node|Unable to update metadata|Failed fetch messages|"
    r"Group Coordinator Request failed|Heartbeat send request failed|Error sending HeartbeatRequest|"
    r"Marking the coordinator dead|Heartbeat session expired|NodeNotReadyError|KafkaConnectionError|"
    r"Connection refused|Connect call failed|KafkaTimeoutError|RequestTimedOutError|"
    r"Unable to request metadata|coordinator \(node \d+\) is either not started|"
    r"NotCoordinatorForGroupError|GroupCoordinatorNotAvailableError")
_REDIS = re.compile(r"redis", re.IGNORECASE)
_REDIS_DOWN = re.compile(r"ConnectionError|Connection refused|Error \d+ connecting|TimeoutError|"
                         r"Connection reset|Connection closed")
KAFKA_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.consumer.fetcher",
                 "aiokafka.consumer.group_coordinator", "aiokafka.consumer.consumer",
                 "aiokafka.producer.sender", "aiokafka.producer.producer", "aiokafka.admin.client")


@dataclass
class _Down:
    since: float  # wall clock
    started: float  # monotonic
    errors: int
    reminded: float  # monotonic


class OutageLog(logging.Filter):
    def __init__(self, *, remind_every: float = 60.0, settle: float = 10.0,
                 on_error: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.remind_every, self.settle = remind_every, settle
        self.back_at: dict[str, float] = {}  # when a service was last seen back
        self.on_error = on_error
        self.clock = clock
        self.down: dict[str, _Down] = {}
        self.suppressed = 0

    def classify(self, record: logging.LogRecord) -> str | None:
        """"kafka" / "redis" for a connection-error record, None for anything else."""
        if record.levelno < logging.WARNING:
            return None
        msg = record.getMessage()
        if record.name.startswith("aiokafka"):
            return "kafka" if _KAFKA.search(msg) else None
        if _REDIS.search(msg) and _REDIS_DOWN.search(msg):
            return "redis"
        if record.name.startswith("pulse") and _KAFKA.search(msg):
            return "kafka"
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        service = self.classify(record)
        if service is None:
            return True
        if self.on_error is not None:
            self.on_error(service)
        now, message = self.clock(), record.getMessage()
        d = self.down.get(service)
        if d is None and now - self.back_at.get(service, -1e18) < self.settle:
            # the broker answers but its group coordinator is still loading: not a new outage
            self.suppressed += 1
            return False
        if d is None:
            self.down[service] = _Down(time.time(), now, 1, now)
            record.msg = ("%s unreachable: %s (repeats are counted, not logged, until it answers "
                          "again)")
            record.args = (NAMES[service], message)
            return True
        d.errors += 1
        if now - d.reminded >= self.remind_every:
            d.reminded = now
            record.msg = "%s still unreachable after %.0f s (%d connection errors): %s"
            record.args = (NAMES[service], now - d.started, d.errors, message)
            return True
        self.suppressed += 1
        return False

    def up(self, service: str) -> None:
        """The service answered: one line if it was down."""
        d = self.down.pop(service, None)
        if d is not None:
            self.back_at[service] = self.clock()
            log.warning("%s reachable again after %.1f s (%d connection errors while down)",
                        NAMES[service], self.clock() - d.started, d.errors)

    def install(self, loggers: Iterable[str] = KAFKA_LOGGERS) -> OutageLog:
        """Attach to the named loggers (a filter on a logger sees only that logger's records)."""
        for name in loggers:
            lg = logging.getLogger(name)
            if self not in lg.filters:
                lg.addFilter(self)
        return self

    def uninstall(self, loggers: Iterable[str] = KAFKA_LOGGERS) -> None:
        for name in loggers:
            logging.getLogger(name).removeFilter(self)

    async def watch(self, probes: dict[str, Callable[[], Awaitable[bool]]], every: float = 2.0) -> None:
        """Forever: while a service is down, probe it every `every` seconds; `up()` once it answers."""
        while True:
            await asyncio.sleep(every)
            for service in list(self.down):
                probe = probes.get(service)
                if probe is not None and await probe():
                    self.up(service)


def tcp_probe(bootstrap: str, timeout: float = 1.0) -> Callable[[], Awaitable[bool]]:
    """A probe: True when one of the bootstrap servers accepts a TCP connection."""
    hosts = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port or 9092)))

    async def probe() -> bool:
        for host, port in hosts:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except (OSError, TimeoutError):
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    return probe
