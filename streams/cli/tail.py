"""`pulse alerts tail`: print alerts from the `alerts` topic as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streams.kafka import wait_assigned


def format_alert(a: dict[str, Any]) -> str:
    trend = "" if a.get("score_7d_ago") is None else f" (7d ago {a['score_7d_ago']:.1f})"
    plan = a.get("traits", {}).get("plan")
    tail = f"  plan={plan}" if plan else ""
    if a.get("route"):
        tail += f"  route={a['route']}"
    if a.get("weakest_component"):
        tail += f"  weakest={a['weakest_component']}"
    tickets = (a.get("explain") or {}).get("tickets")
    if tickets:
        tail += "  tickets: " + "; ".join("(no subject)" if t is None else str(t) for t in tickets)
    return (f"{a['at']}  {a['account']:<16} {a['from'] or '-':>8} -> {a['to']:<8} "
            f"score {a['score']:8.2f}{trend}  [{a['kind']}/{a['reason']}]{tail}")


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, idle_exit: float | None,
               emit: Callable[[bytes], None], max_alerts: int | None = None) -> int:
    """Read alerts until `idle_exit` seconds pass without one (or forever); returns the count."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest")
    await consumer.start()
    seen = 0
    try:
        await wait_assigned(consumer, topic)
        loop = asyncio.get_running_loop()
        last = loop.time()
        while idle_exit is None or loop.time() - last < idle_exit:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    if r.value is not None:
                        emit(r.value)
                        seen += 1
                        last = loop.time()
                        if max_alerts is not None and seen >= max_alerts:
                            return seen
    finally:
        await consumer.stop()
    return seen


def pretty(value: bytes) -> str:
    return format_alert(orjson.loads(value))
