"""`streams.outage.OutageLog`: a flood of connection errors becomes one line, a reminder per
`remind_every`, a counter, and one line when the service is back; other records pass untouched."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from streams.dev.stack import free_port
from streams.outage import OutageLog, tcp_probe


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def captured():  # type: ignore[no-untyped-def]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    names = ["aiokafka", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
             "pulse.notifier", "pulse.outage"]
    for n in names:
        logging.getLogger(n).addHandler(handler)
        logging.getLogger(n).setLevel(logging.DEBUG)
        logging.getLogger(n).propagate = False
    yield records
    for n in names:
        logging.getLogger(n).removeHandler(handler)
        logging.getLogger(n).propagate = True
        logging.getLogger(n).setLevel(logging.NOTSET)


def test_a_broker_outage_is_two_lines_and_a_counter(captured: list[logging.LogRecord]) -> None:
    clock, counted = Clock(), Counter[str]()
    outage = OutageLog(remind_every=60.0, on_error=lambda s: counted.update([s]), clock=clock)
    outage.install(["aiokafka", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator"])
    try:
        client = logging.getLogger("aiokafka")
        fetcher = logging.getLogger("aiokafka.consumer.fetcher")
        coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
        for i in range(2600):  # 26 s of the measured flood, ~100 lines a second
            clock.t = i / 100
            client.error("Unable connect to node with id %s: %s", 1, "[Errno 111] Connection refused")
            client.error("Unable to update metadata from %s", [1])
            fetcher.error("Failed fetch messages from %s: %s", 1, "NodeNotReadyError: not ready")
            coordinator.error("Group Coordinator Request failed: %s", "NodeNotReadyError")
        client.error("an error that is not about the connection")  # passes untouched
        client.info("Discovered coordinator 1 for group g")  # below WARNING: untouched
        clock.t = 26.4
        outage.up("kafka")
        outage.up("kafka")  # already up: nothing
    finally:
        outage.uninstall(["aiokafka", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator"])
    lines = [r.getMessage() for r in captured]
    assert counted == {"kafka": 4 * 2600}
    assert lines[0].startswith("Kafka broker unreachable: Unable connect to node with id 1")
    assert lines[1] == "an error that is not about the connection"
    assert lines[2] == "Discovered coordinator 1 for group g"
    assert lines[3] == "Kafka broker reachable again after 26.4 s (10400 connection errors while down)"
    assert len(lines) == 4  # 26 s < remind_every: no reminder


def test_a_long_outage_reminds_once_a_period(captured: list[logging.LogRecord]) -> None:
    clock = Clock()
    outage = OutageLog(remind_every=60.0, clock=clock).install(["aiokafka"])
    try:
        for i in range(3000):  # 300 s, 10 a second
            clock.t = i / 10
            logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    finally:
        outage.uninstall(["aiokafka"])
    lines = [r.getMessage() for r in captured]
    assert len(lines) == 1 + 4  # the first, then at 60, 120, 180, 240 s
    assert lines[1].startswith("Kafka broker still unreachable after 60 s (601 connection errors)")
    assert outage.suppressed == 3000 - 5


def test_redis_errors_of_the_notifier_collapse_too(captured: list[logging.LogRecord]) -> None:
    clock = Clock()
    outage = OutageLog(clock=clock).install(["pulse.notifier"])
    try:
        for _ in range(50):
            logging.getLogger("pulse.notifier").warning(
                "channel %s: Redis error, retrying in 1 s: %s", "slack",
                "Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        logging.getLogger("pulse.notifier").warning("channel slack: entry 1-0 dead-lettered")
        outage.up("redis")
    finally:
        outage.uninstall(["pulse.notifier"])
    lines = [r.getMessage() for r in captured]
    assert len(lines) == 3
    assert lines[0].startswith("Redis unreachable: channel slack: Redis error")
    assert lines[1] == "channel slack: entry 1-0 dead-lettered"
    assert lines[2].startswith("Redis reachable again after")


def test_watch_logs_back_when_the_probe_answers(captured: list[logging.LogRecord]) -> None:
    port = free_port()
    outage = OutageLog().install(["aiokafka"])

    async def scenario() -> None:
        logging.getLogger("aiokafka").error("Unable connect to node with id 1: Connection refused")
        watcher = asyncio.create_task(outage.watch({"kafka": tcp_probe(f"127.0.0.1:{port}")}, every=0.05))
        await asyncio.sleep(0.3)
        assert "kafka" in outage.down  # nothing listens yet
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        for _ in range(100):
            if "kafka" not in outage.down:
                break
            await asyncio.sleep(0.05)
        watcher.cancel()
        server.close()

    try:
        asyncio.run(scenario())
    finally:
        outage.uninstall(["aiokafka"])
    lines = [r.getMessage() for r in captured]
    assert lines[0].startswith("Kafka broker unreachable")
    assert lines[-1].startswith("Kafka broker reachable again after")


def test_errors_right_after_the_broker_is_back_are_no_new_outage(captured: list[logging.LogRecord]) -> None:
    clock = Clock()
    outage = OutageLog(settle=10.0, clock=clock).install(["aiokafka"])
    try:
        err = logging.getLogger("aiokafka").error
        err("Unable connect to node with id 1: Connection refused")
        clock.t = 30.0
        outage.up("kafka")
        clock.t = 30.1
        err("Heartbeat session expired - marking coordinator dead")  # coordinator still loading
        clock.t = 45.0
        err("Unable connect to node with id 1: Connection refused")  # a new outage
    finally:
        outage.uninstall(["aiokafka"])
    lines = [r.getMessage() for r in captured]
    assert [x.split(":")[0].split(" after")[0] for x in lines] == [
        "Kafka broker unreachable", "Kafka broker reachable again", "Kafka broker unreachable"]
