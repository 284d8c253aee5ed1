"""Real parts for the notifier tests: an aiohttp receiver that records what arrives (and can fail
on purpose), alerts as the worker makes them, a Kafka producer, and Redis inspection helpers."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer

from streams.contracts.alert import Alert
from streams.worker.records import alert_id

SECRET = "whsec_" + base64.b64encode(b"pulse-test-signing-key-0123456789").decode()


def make_alert(i: int, *, account: str | None = None, frm: str | None = "yellow", to: str = "red",
               kind: str = "engagement", reason: str = "band_change", plan: str = "team",
               at: str | None = None) -> Alert:
    """An alert shaped as the worker makes one (the contract's `Alert`)."""
    account = account or f"acct-{i}"
    at = at or f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
    ranks = ("at_risk", "red", "yellow", "green", "thriving")
    direction = "initial" if frm is None else ("up" if ranks.index(to) > ranks.index(frm) else "down")
    return Alert.parse({"alert_id": alert_id(kind, reason, account, frm, to, at), "kind": kind,
                        "account": account, "from": frm, "to": to, "direction": direction, "score": 12.5,
                        "score_7d_ago": 55.0, "at": at, "reason": reason,
                        "top_events": [{"event": "Login", "count": 3, "points": 3.0}], "traits": {"plan": plan}})


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send(topic, v, key=b"k")
        await producer.flush()
    finally:
        await producer.stop()


@dataclass
class Receiver:
    """POST /<mode>: `ok`, `flaky` (seeded: ~30% 500, ~10% stall past the client timeout),
    `always500`, `retry-after` (first request per id 429 + Retry-After: 1, then 200), `slow` (ok
    after `slow_seconds`). A request is *accepted* when it is answered 2xx; a repeated
    `webhook-id` is answered 200 and counted as a duplicate, not accepted again."""

    seed: int = 7
    stall_seconds: float = 1.5
    slow_seconds: float = 0.02
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id -> body
    duplicates: list[tuple[str, str]] = field(default_factory=list)    # (webhook-id, body alert_id)
    requests: Counter[str] = field(default_factory=Counter)            # alert_id -> requests seen
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    headers: dict[str, dict[str, str]] = field(default_factory=dict)   # webhook-id -> headers
    raw: dict[str, bytes] = field(default_factory=dict)                # webhook-id -> body bytes
    port: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._runner: web.AppRunner | None = None

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def accepted_ids(self) -> Counter[str]:
        return Counter(b["alert_id"] for b in self.accepted.values())

    async def _handle(self, request: web.Request) -> web.Response:
        mode = request.match_info["mode"]
        body = await request.read()
        alert = orjson.loads(body)
        key = request.headers.get("webhook-id", "")
        self.requests[alert["alert_id"]] += 1
        self.times[alert["alert_id"]].append(time.monotonic())
        if mode == "always500":
            return web.Response(status=500, text="receiver broken")
        if mode == "flaky":
            roll = self.rng.random()
            if roll < 0.30:
                return web.Response(status=500, text="flaky 500")
            if roll < 0.40:
                await asyncio.sleep(self.stall_seconds)  # past the client's read timeout
                return web.Response(status=503, text="stalled")
        if mode == "retry-after" and self.requests[alert["alert_id"]] == 1:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if key in self.accepted:
            self.duplicates.append((key, alert["alert_id"]))
        else:
            self.accepted[key] = alert
            self.headers[key] = dict(request.headers)
            self.raw[key] = body
        return web.Response(status=204)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{mode}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def wait_for(predicate: Any, timeout: float = 40.0, what: str = "condition") -> None:
    """Poll until `predicate()` (sync or async) is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        ok = predicate()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def webhook_channel_toml(name: str, url: str, *, read_timeout: float = 2.0) -> str:
    return (f'[channels.{name}]\ntype = "webhook"\nurl = "{url}"\nsecret = "{SECRET}"\n'
            f'allow_networks = ["127.0.0.1/32"]\nconnect_timeout = 1.0\nread_timeout = {read_timeout}\n')
