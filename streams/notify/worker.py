"""Delivery worker of one channel: XREADGROUP + XAUTOCLAIM on the channel's stream, running the stages

    parse -> dedup -> cooldown -> send -> (delivered | retry later | dead letter)

for up to `concurrency` entries at once; entries of the same account run one after the other, in
stream order (so the cooldown sees an account's alerts in the order they were raised; a retry
comes back later, behind newer alerts of its account). Every outcome is written in one MULTI together with the
XACK (and XDEL) of the entry, so a crash leaves each entry either pending (claimed again after
`claim_idle_seconds` by any worker) or finished, never lost. Nothing here lets an exception out
of one entry: a bad entry is dead-lettered, an unexpected channel error is treated as retryable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from scoring.errors import (
    DeliveryError,
    MalformedAlertError,
    RefusedTargetError,
    RetryableDeliveryError,
)
from streams.notify import cooldown, dedup, dlq, metrics, retry
from streams.notify.channel import Channel
from streams.notify.config import NotifierSettings
from streams.notify.entry import Entry
from streams.notify.keys import GROUP, Keys

log = logging.getLogger("pulse.notifier")


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def ensure_group(redis: Redis, stream: str) -> None:
    try:
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _account_of(fields: dict[str, str]) -> str:
    try:
        return str(orjson.loads(fields.get("alert", "{}")).get("account"))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


class ChannelWorker:
    def __init__(self, redis: Redis, keys: Keys, channel: Channel, cfg: NotifierSettings, *,
                 consumer: str | None = None, rng: random.Random | None = None) -> None:
        self.redis, self.keys, self.channel, self.cfg = redis, keys, channel, cfg
        self.name = channel.name
        self.stream = keys.stream(channel.name)
        self.consumer = consumer or consumer_name()
        self.rng = rng or random.Random()
        self.scheduler = retry.Scheduler(redis, keys, channel.name)
        self._inflight: dict[str, asyncio.Task[str]] = {}
        self._last_of_account: dict[str, asyncio.Task[str]] = {}
        self._claim_cursor = "0-0"  # XAUTOCLAIM scans the pending list in turns, not always from the start

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        await ensure_group(self.redis, self.stream)
        last_claim = 0.0
        while not stop.is_set():
            try:
                await self.scheduler.move_due(time.time())
                room = self.cfg.concurrency - len(self._inflight)
                if room <= 0:
                    await asyncio.wait(list(self._inflight.values()), timeout=self.cfg.poll_seconds,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                now = time.monotonic()
                if now - last_claim >= min(self.cfg.claim_idle_seconds / 2, 5.0):
                    last_claim = now
                    self._start(await self._claim(room))
                    room = self.cfg.concurrency - len(self._inflight)
                    if room <= 0:
                        continue
                block = max(1, int(self.cfg.poll_seconds * 1000))
                resp: Any = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"},
                                                        count=room, block=block)
                for _stream, rows in resp or ():
                    self._start(rows)
            except (RedisError, OSError) as exc:
                log.warning("channel %s: Redis error, retrying in 1 s: %s", self.name, exc)
                await asyncio.sleep(1.0)
                if "NOGROUP" in str(exc):  # the stream was deleted under us: start it again
                    await ensure_group(self.redis, self.stream)
        if self._inflight:  # let sends in flight finish and record their outcome
            await asyncio.wait(list(self._inflight.values()), timeout=self.cfg.send_timeout_seconds + 5)

    async def _claim(self, count: int) -> list[tuple[str, dict[str, str]]]:
        idle_ms = int(self.cfg.claim_idle_seconds * 1000)
        resp: Any = await self.redis.xautoclaim(self.stream, GROUP, self.consumer, min_idle_time=idle_ms,
                                                start_id=self._claim_cursor, count=count)
        self._claim_cursor = resp[0]
        rows = [r for r in resp[1] if r and r[1] is not None and r[0] not in self._inflight]
        await self._forget_idle_consumers()
        rows = await self._drop_poison(rows)
        if rows:
            log.info("channel %s: claimed %d entr%s idle for %.0f s or more (a worker died?)", self.name,
                     len(rows), "y" if len(rows) == 1 else "ies", self.cfg.claim_idle_seconds)
        return rows

    async def _drop_poison(self, rows: list[Any]) -> list[Any]:
        """Dead-letter claimed entries read more than `max_attempts` times: every worker that took
        one died before finishing it (a poison entry), so a new attempt would likely kill this one."""
        if not rows:
            return rows
        info: Any = await self.redis.xpending_range(self.stream, GROUP, min=rows[0][0], max=rows[-1][0],
                                                    count=len(rows) + 100)
        reads = {p["message_id"]: int(p["times_delivered"]) for p in info}
        keep = []
        for entry_id, fields in rows:
            n = reads.get(entry_id, 1)
            if n <= self.cfg.max_attempts:
                keep.append((entry_id, fields))
                continue
            error = (f"read {n} times by workers that all stopped before finishing it (poison entry?); "
                     f"last error: {fields.get('last_error') or 'none'}")
            log.error("channel %s: dead-lettering entry %s: %s", self.name, entry_id, error)
            try:
                entry = Entry.from_fields(self.name, fields)
                dead = dlq.entry_fields(entry, error, time.time())
            except MalformedAlertError:
                dead = dlq.malformed_fields(fields.get("alert", str(fields)), error, self.stream, time.time())
            await self._finish(entry_id, lambda p, d=dead: p.xadd(self.keys.dlq(), d))
            metrics.DEAD_LETTERED.labels(self.name).inc()
        return keep

    async def _forget_idle_consumers(self) -> None:
        """Delete consumers of dead workers (`host-pid` names pile up) once nothing is pending on them."""
        idle_ms = int(self.cfg.claim_idle_seconds * 1000) * 10
        consumers: Any = await self.redis.xinfo_consumers(self.stream, GROUP)
        for c in consumers:
            if c["name"] != self.consumer and int(c["pending"]) == 0 and int(c["idle"]) > idle_ms:
                await self.redis.xgroup_delconsumer(self.stream, GROUP, c["name"])

    def _start(self, rows: list[Any]) -> None:
        for entry_id, fields in rows:
            if entry_id in self._inflight:
                continue
            account = _account_of(fields)
            task = asyncio.create_task(self._after(self._last_of_account.get(account), entry_id, fields))
            self._inflight[entry_id] = task
            self._last_of_account[account] = task
            task.add_done_callback(functools.partial(self._done, entry_id=entry_id, account=account))

    def _done(self, task: asyncio.Task[str], *, entry_id: str, account: str) -> None:
        if self._inflight.get(entry_id) is task:
            del self._inflight[entry_id]
        if self._last_of_account.get(account) is task:
            del self._last_of_account[account]

    async def _after(self, previous: asyncio.Task[str] | None, entry_id: str, fields: dict[str, str]) -> str:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        return await self.handle(entry_id, fields)

    # -- one entry ---------------------------------------------------------------------------------
    async def handle(self, entry_id: str, fields: dict[str, str]) -> str:
        """Run the stages for one entry; returns the outcome (for tests and logs)."""
        try:
            return await self._handle(entry_id, fields)
        except (RedisError, OSError) as exc:  # left pending: claimed again after claim_idle_seconds
            log.warning("channel %s: entry %s left pending, Redis error: %s", self.name, entry_id, exc)
            return "pending"
        except Exception:  # a bug here must not stop the other entries; the entry stays pending
            log.exception("channel %s: entry %s left pending after an unexpected error", self.name, entry_id)
            return "pending"

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> str:
        try:
            entry = Entry.from_fields(self.name, fields)
        except MalformedAlertError as exc:
            log.error("channel %s: dead-lettering malformed entry %s: %s", self.name, entry_id, exc)
            bad = dlq.malformed_fields(fields.get("alert", str(fields)), str(exc), f"stream {self.stream}",
                                       time.time())
            await self._finish(entry_id, lambda p: p.xadd(self.keys.dlq(), bad))
            metrics.DEAD_LETTERED.labels(self.name).inc()
            return "malformed"
        if await dedup.check(self.redis, self.keys, self.name, entry.alert_id):
            await self._finish(entry_id)
            metrics.SUPPRESSED.labels(self.name, "dedup").inc()
            return "duplicate"
        d = await cooldown.apply(self.redis, self.keys, route=entry.route,
                                 account=entry.alert.account, alert_id=entry.alert_id,
                                 band=entry.alert.to_band, now=time.time(),
                                 cooldown=entry.cooldown)
        if not d.send:
            log.info("channel %s: alert %s for %s held back by the cooldown of route %s", self.name,
                     entry.alert_id, entry.alert.account, entry.route)
            await self._finish(entry_id)
            metrics.SUPPRESSED.labels(self.name, "cooldown").inc()
            return "cooldown"
        error = await self._send(entry)
        now = time.time()
        if error is None:
            mark = self.keys.delivered(self.name, entry.alert_id)
            await self._record_sent(entry_id, lambda p: p.set(mark, dedup.delivered_mark(now),
                                                              ex=self.cfg.dedup_ttl_seconds))
            metrics.DELIVERED.labels(self.name).inc()
            metrics.LATENCY.labels(self.name).observe(max(0.0, now - entry.handoff_at))
            return "delivered"
        text = f"{type(error).__name__}: {error}"
        if retry.should_retry(error.retryable, entry.attempt, self.cfg.max_attempts):
            wait = retry.delay(entry.attempt, error.retry_after, self.cfg, self.rng)
            member = retry.member(entry.next_attempt(text))
            await self._finish(entry_id, lambda p: p.zadd(self.keys.retry(self.name), {member: now + wait}))
            metrics.RETRIED.labels(self.name).inc()
            log.info("channel %s: alert %s attempt %d failed (%s); retry in %.2f s", self.name,
                     entry.alert_id, entry.attempt, text, wait)
            return "retry"
        if isinstance(error, RefusedTargetError):
            log.error("channel %s: alert %s REFUSED, target not allowed (SSRF guard): %s", self.name,
                      entry.alert_id, error)
        else:
            log.error("channel %s: alert %s dead-lettered after %d attempt(s): %s", self.name,
                      entry.alert_id, entry.attempt, text)
        fields_dl = dlq.entry_fields(entry, text, now)
        await self._finish(entry_id, lambda p: p.xadd(self.keys.dlq(), fields_dl))
        metrics.DEAD_LETTERED.labels(self.name).inc()
        return "dead"

    async def _send(self, entry: Entry) -> DeliveryError | None:
        try:
            await asyncio.wait_for(self.channel.send(entry.delivery()), self.cfg.send_timeout_seconds)
            return None
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return RetryableDeliveryError(f"send took longer than {self.cfg.send_timeout_seconds:g} s")
        except Exception as exc:  # a channel bug must not kill the worker; try again later
            log.exception("channel %s: unexpected error from send", self.name)
            return RetryableDeliveryError(f"unexpected {type(exc).__name__}: {exc}")

    async def _record_sent(self, entry_id: str, extra: Any) -> None:
        """`_finish` after a successful send, waiting out a Redis outage. A lost write here would
        leave the entry pending, and it would be sent again after `claim_idle_seconds` with the
        same idempotency key (the chaos harness saw this after a Redis restart: docs/chaos.md).
        The entry stays in `_inflight` meanwhile, so this worker does not claim it (`_claim`);
        past `send_timeout_seconds + claim_idle_seconds` the error goes up (entry left pending)."""
        deadline = time.monotonic() + self.cfg.send_timeout_seconds + self.cfg.claim_idle_seconds
        delay = 0.05
        while True:
            try:
                await self._finish(entry_id, extra)  # idempotent: SET, XACK, XDEL
                return
            except (RedisError, OSError):
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def _finish(self, entry_id: str, extra: Any = None) -> None:
        """XACK + XDEL the entry, with `extra(pipe)` (the outcome) in the same MULTI."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if extra is not None:
                extra(pipe)
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()
