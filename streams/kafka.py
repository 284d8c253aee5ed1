"""Kafka admin helpers, one module for the worker, `pulse lag`, the dev stack and the tools:
the cluster id (is a broker there?), topic creation, waiting for an assignment, and a consumer
group's lag from the broker's committed and end offsets (not Faust's sensor; see
docs/operations.md)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings, get_settings

LIVE_STATES = frozenset({"Stable"})


class HideSaslBytes(logging.Filter):
    """aiokafka.conn logs every request at DEBUG, `SaslAuthenticateRequest` included, and with SASL
    PLAIN its bytes are the user and the password in clear. Such a line keeps its place, without
    the bytes (installed on `aiokafka.conn` whenever SASL is configured)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(type(a).__name__.startswith("SaslAuthenticate") for a in args):
            record.args = tuple("<SASL authentication bytes hidden>"
                                if type(a).__name__.startswith("SaslAuthenticate") else a for a in args)
        return True


def hide_sasl_bytes() -> None:
    conn_log = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, HideSaslBytes) for f in conn_log.filters):
        conn_log.addFilter(HideSaslBytes())


def ssl_context(s: Settings) -> ssl.SSLContext:
    """The TLS context of a Kafka client: the broker's certificate checked against PULSE_KAFKA_CA_FILE
    (or the system's CAs), host name checked."""
    return ssl.create_default_context(cafile=str(s.kafka_ca_file) if s.kafka_ca_file else None)


def kafka_auth(s: Settings | None = None) -> dict[str, Any]:
    """The security keyword arguments of every aiokafka client of Pulse (producer, consumer, admin),
    from the settings (PULSE_KAFKA_SECURITY_PROTOCOL, _SASL_*, _CA_FILE; docs/operations.md)."""
    s = s or get_settings()
    kw: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    if s.kafka_security_protocol in ("SSL", "SASL_SSL"):
        kw["ssl_context"] = ssl_context(s)
    if s.kafka_security_protocol.startswith("SASL"):
        assert s.kafka_sasl_password is not None  # Settings checked it
        hide_sasl_bytes()
        kw.update(sasl_mechanism=s.kafka_sasl_mechanism, sasl_plain_username=s.kafka_sasl_username,
                  sasl_plain_password=s.kafka_sasl_password.get_secret_value())
    return kw


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        """End offset - committed offset (may be < 0: the end offset read before the commit)."""
        return self.end - (self.committed or 0)


class OffsetReader:
    """Reads consumer groups' committed offsets and their topics' end offsets from the broker:
    the one poll path of `group_lag` (one-off) and of the lag monitor (`streams.worker.lagmon`,
    which keeps a reader open between polls). Use as `async with OffsetReader(bootstrap) as r`."""

    def __init__(self, bootstrap: str, auth: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self._auth = kafka_auth() if auth is None else auth
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        try:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self._auth)
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                              **self._auth)
            await self._consumer.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def __aenter__(self) -> OffsetReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def admin(self) -> AIOKafkaAdminClient:
        assert self._admin is not None, "call start() first"
        return self._admin

    async def groups(self, prefix: str = "") -> list[str]:
        """The consumer groups whose name starts with `prefix`, sorted."""
        return sorted(g for g, _ in await self.admin.list_consumer_groups() if g.startswith(prefix))

    async def lag(self, group: str, topics: list[str]) -> list[PartitionLag]:
        """Committed and end offset of every partition of `topics` (empty: the topics the group
        has committed offsets for), sorted by topic and partition. A partition the group never
        committed has `committed=None`; a topic the broker does not know has no rows."""
        assert self._consumer is not None, "call start() first"
        committed = await self.admin.list_consumer_group_offsets(group)
        topics = topics or sorted({tp.topic for tp in committed})
        if not topics:
            return []
        ends = await self.end_offsets(topics)
        rows = []
        for tp in sorted(ends):
            c = committed.get(tp)
            rows.append(PartitionLag(group, tp.topic, tp.partition,
                                     c.offset if c is not None and c.offset >= 0 else None, ends[tp]))
        return rows

    async def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        """The end offset of every partition of `topics` (a topic the broker does not know: none)."""
        assert self._consumer is not None, "call start() first"
        meta = await self.admin.describe_topics(topics)
        tps = [TopicPartition(t["topic"], p["partition"])
               for t in meta if not t.get("error_code") for p in t.get("partitions", [])]
        return await self._consumer.end_offsets(tps) if tps else {}

    async def live(self, group: str) -> bool:
        """Whether the group has members in a stable state (a live consumer commits on its own)."""
        for resp in await self.admin.describe_consumer_groups([group]):
            for g in resp.to_object()["groups"]:
                if g["group"] == group and g["state"] in LIVE_STATES and g["members"]:
                    return True
        return False


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag]:
    async with OffsetReader(bootstrap) as reader:
        return await reader.lag(group, topics)


async def try_group_lag(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag] | None:
    """`group_lag`, or None on a retriable broker answer (e.g. a fresh broker's group coordinator
    is not available until `__consumer_offsets` exists)."""
    try:
        return await group_lag(bootstrap, group, topics)
    except KafkaError as exc:
        if not exc.retriable:
            raise
        return None


async def records_left(bootstrap: str, lags: list[PartitionLag], timeout: float = 10.0) -> int:
    """The records a `read_committed` consumer reads between each partition's committed and end
    offset. A topic written in transactions (the worker under exactly-once) ends with a commit
    marker: it takes an offset but is no record, so a consumer that read everything still shows
    a lag of 1 (Kafka's own tools show it too). Returns -1 if it could not read to the end."""
    todo = {TopicPartition(x.topic, x.partition): x for x in lags if x.lag > 0}
    if not todo:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed", **kafka_auth())
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp, x in todo.items():
            consumer.seek(tp, x.committed or 0)
        n, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                n += len(records)
            positions = [await consumer.position(tp) for tp in todo]
            if all(pos >= x.end for pos, x in zip(positions, todo.values(), strict=True)):
                return n
        return -1
    finally:
        await consumer.stop()


def _caught_up(lags: list[PartitionLag]) -> bool:
    return bool(lags) and all(x.lag == 0 for x in lags if x.end > 0)


async def wait_caught_up(bootstrap: str, group: str, topics: list[str], timeout: float = 120.0,
                         settle: float = 0.0) -> list[PartitionLag]:
    """Wait until the group has committed every partition of `topics` up to its end offset, or
    (a topic written in transactions) up to where only transaction markers are left."""
    deadline = time.monotonic() + timeout

    async def done(lags: list[PartitionLag]) -> bool:
        if _caught_up(lags):
            return True
        return (bool(lags) and all(0 <= x.lag <= 10_000 for x in lags if x.end > 0)
                and await records_left(bootstrap, lags) == 0)

    while True:
        lags = await try_group_lag(bootstrap, group, topics) or []
        if await done(lags):
            await asyncio.sleep(settle)
            again = await try_group_lag(bootstrap, group, topics)
            if again is not None and await done(again):
                return again
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} still behind: {[(x.topic, x.partition, x.lag) for x in lags]}")
        await asyncio.sleep(0.5)


async def _describe_cluster(bootstrap: str, auth: dict[str, Any] | None) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                **(kafka_auth() if auth is None else auth))
    await admin.start()
    try:
        info = await admin.describe_cluster()
        return str(info.get("cluster_id"))
    finally:
        await admin.close()


def kafka_cluster_id(bootstrap: str, timeout: float = 5.0, auth: dict[str, Any] | None = None) -> str | None:
    """The cluster id if a broker answers a metadata request, else None (quietly: it polls).
    `auth`: the client's security arguments (default: `kafka_auth()` of the settings)."""
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(asyncio.wait_for(_describe_cluster(bootstrap, auth), timeout))
    except Exception:
        return None
    finally:
        client_log.setLevel(level)


async def ensure_topics_async(bootstrap: str, names: list[str], partitions: int,
                              config: dict[str, str] | None = None, auth: dict[str, Any] | None = None
                              ) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **(kafka_auth() if auth is None else auth))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        todo = [n for n in names if n not in existing]
        if todo:
            await admin.create_topics([NewTopic(n, partitions, 1, topic_configs=config or {})
                                       for n in todo])
            for _ in range(100):  # wait until the metadata shows them
                if set(todo) <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
        return todo
    finally:
        await admin.close()


def ensure_topics(bootstrap: str, names: list[str], partitions: int,
                  config: dict[str, str] | None = None, auth: dict[str, Any] | None = None) -> list[str]:
    return asyncio.run(ensure_topics_async(bootstrap, names, partitions, config, auth))


async def wait_assigned(consumer: AIOKafkaConsumer, topic: str, timeout: float = 15.0) -> None:
    """Wait until a group-less subscription has assigned the topic's partitions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not consumer.assignment():
        if loop.time() > deadline:
            raise LookupError(f"topic {topic} does not exist: start `pulse worker` or `pulse stack up` first")
        await asyncio.sleep(0.05)
