"""Real receivers that fail on purpose: an HTTP webhook receiver (aiohttp) and an SMTP server
(aiosmtpd), each in its own thread with its own event loop.

Each request fails with probability `fail_rate` (seeded), split evenly between three ways:
- an error answer: HTTP 500 / SMTP 451 (a temporary failure: the notifier must retry);
- a stall past the client's timeout (then an error answer, if anyone still listens);
- a closed connection, without an answer.
Otherwise the delivery is *accepted* (HTTP 204 / SMTP 250) and recorded under its idempotency
key (the `webhook-id` header / the `Message-ID`). A key accepted before is answered with success
again, as a real idempotent receiver would, and counted as a duplicate delivery.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Ledger:
    """What one receiver saw. Only touched from its own thread's loop; read after the run."""

    name: str
    accepted: dict[str, str] = field(default_factory=dict)   # idempotency key -> alert_id
    duplicates: Counter[str] = field(default_factory=Counter)  # key -> extra successful deliveries
    failures: Counter[str] = field(default_factory=Counter)    # how -> count
    repeat_at: list[float] = field(default_factory=list)       # time.monotonic() of each repeat
    requests: int = 0

    def summary(self) -> dict[str, Any]:
        return {"requests": self.requests, "accepted": len(self.accepted),
                "redelivered_same_key": sum(self.duplicates.values()),
                "failed_on_purpose": dict(sorted(self.failures.items()))}


class _Fate:
    def __init__(self, seed: int, fail_rate: float) -> None:
        self.rng = random.Random(seed)
        self.fail_rate = fail_rate

    def draw(self) -> str:
        r = self.rng.random()
        if r >= self.fail_rate:
            return "ok"
        return ("error", "stall", "close")[int(3 * r / self.fail_rate) % 3]


class Sinks:
    """The webhook receiver and the SMTP server of a run; `start()` returns once both listen."""

    def __init__(self, seed: int, fail_rate: float, stall_seconds: float) -> None:
        self.webhook = Ledger("webhook")
        self.email = Ledger("email")
        self.stall = stall_seconds
        self._hook_fate = _Fate(seed, fail_rate)
        self._mail_fate = _Fate(seed + 1, fail_rate)
        self.webhook_port = 0
        self.smtp_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._smtp: Any = None
        self._ready = threading.Event()

    # -- webhook ----------------------------------------------------------------------
    async def _hook(self, request: web.Request) -> web.StreamResponse:
        led = self.webhook
        led.requests += 1
        body = await request.read()
        fate = self._hook_fate.draw()
        if fate == "error":
            led.failures["500"] += 1
            return web.Response(status=500, text="chaos: receiver error")
        if fate == "stall":
            led.failures["stall"] += 1
            await asyncio.sleep(self.stall)
            return web.Response(status=503, text="chaos: stalled")
        if fate == "close":
            led.failures["closed"] += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=204)  # never written: the connection is gone
        key = request.headers.get("webhook-id", "")
        if key in led.accepted:
            led.duplicates[key] += 1
            led.repeat_at.append(time.monotonic())
        else:
            led.accepted[key] = str(orjson.loads(body)["alert_id"])
        return web.Response(status=204)

    # -- SMTP -------------------------------------------------------------------------
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler
        led = self.email
        led.requests += 1
        fate = self._mail_fate.draw()
        if fate == "error":
            led.failures["451"] += 1
            return "451 4.3.0 chaos: try again later"
        if fate == "stall":
            led.failures["stall"] += 1
            await asyncio.sleep(self.stall)
            return "451 4.3.0 chaos: stalled"
        if fate == "close":
            led.failures["closed"] += 1
            server.transport.close()
            return "421 4.3.0 chaos: closing"  # not received: the connection is closed
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        key = str(msg["Message-ID"])
        if key in led.accepted:
            led.duplicates[key] += 1
            led.repeat_at.append(time.monotonic())
        else:
            led.accepted[key] = str(msg["X-Pulse-Alert-Id"])
        return "250 OK"

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Sinks:
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # clients hanging up on a stall
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._main, name="chaos-sinks", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the chaos receivers did not start")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._serve())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._close())
        loop.close()

    async def _serve(self) -> None:
        from aiosmtpd.smtp import SMTP

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.webhook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(lambda: SMTP(self, hostname="chaos.local"), "127.0.0.1", 0)
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)

    def idle_keys(self) -> tuple[int, int]:
        return len(self.webhook.accepted), len(self.email.accepted)
