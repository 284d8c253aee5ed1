"""`pulse alerts tail`: print alerts from the `alerts` topic as they arrive, each alert id once
(the worker may publish an alert again after a crash: docs/operations.md), read_committed."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streams.contracts.alert import Alert, MalformedAlertError
from streams.kafka import kafka_auth, wait_assigned


def format_alert(a: Alert) -> str:
    trend = "" if a.score_7d_ago is None else f" (7d ago {a.score_7d_ago:.1f})"
    plan = a.traits.get("plan")
    tail = f"  plan={plan}" if plan else ""
    if a.route:
        tail += f"  route={a.route}"
    if a.weakest_component:
        tail += f"  weakest={a.weakest_component}"
    tickets = a.explain.tickets if a.explain is not None else None
    if tickets:
        tail += "  tickets: " + "; ".join("(no subject)" if t is None else t for t in tickets)
    frm = "-" if a.from_band is None else a.from_band.value
    return (f"{a.at}  {a.account:<16} {frm:>8} -> {a.to_band.value:<8} "
            f"score {a.score:8.2f}{trend}  [{a.kind.value}/{a.reason.value}]{tail}")


class SeenIds:
    """The alert ids seen lately (at most `size`, oldest forgotten first): a worker crash under
    at-least-once can publish an alert again, with the same `alert_id`."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[bytes, None] = OrderedDict()
        self.repeats = 0

    def first_time(self, value: bytes) -> bool:
        """False for a record whose alert id was seen (a record that is not an alert: True)."""
        try:
            key = orjson.loads(value)["alert_id"].encode()
        except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
            return True
        if key in self._ids:
            self._ids.move_to_end(key)
            self.repeats += 1
            return False
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, idle_exit: float | None,
               emit: Callable[[bytes], None], max_alerts: int | None = None,
               auth: dict[str, Any] | None = None, dedupe: bool = True,
               isolation_level: str = "read_committed") -> int:
    """Read alerts until `idle_exit` seconds pass without one (or forever); returns the count.
    `auth`: the client's security arguments (default: `kafka_auth()` of the settings).
    `dedupe`: an alert id already shown is skipped (`SeenIds`). `read_committed` (the default)
    hides the records of aborted transactions (the worker under exactly-once)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest",
                                isolation_level=isolation_level,
                                **(kafka_auth() if auth is None else auth))
    await consumer.start()
    seen = 0
    ids = SeenIds() if dedupe else None
    try:
        await wait_assigned(consumer, topic)
        loop = asyncio.get_running_loop()
        last = loop.time()
        while idle_exit is None or loop.time() - last < idle_exit:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    if r.value is not None and (ids is None or ids.first_time(r.value)):
                        emit(r.value)
                        seen += 1
                        last = loop.time()
                        if max_alerts is not None and seen >= max_alerts:
                            return seen
    finally:
        await consumer.stop()
    return seen


def pretty(value: bytes) -> str:
    """One alert as a line; a record that is not a valid alert is shown, not fatal."""
    try:
        return format_alert(Alert.parse(value))
    except MalformedAlertError as exc:
        return f"(not a valid alert: {exc}) {value[:200].decode('utf-8', 'replace')}"
