"""The notifier on real parts: Kafka (alerts topic), Redis (streams, marks, retry set, DLQ), the real
webhook channel against a real aiohttp receiver; an in-test channel only where the channel is not
the point (cooldown, retry bookkeeping)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import standardwebhooks
from redis.asyncio import Redis

from scoring.errors import PermanentDeliveryError, RetryableDeliveryError
from streams.dev.stack import free_port
from streams.notify.channel import Delivery
from streams.notify.channels import build_channel
from streams.notify.config import NotifierConfig, parse_config
from streams.notify.keys import GROUP, Keys
from streams.notify.router import Router
from streams.notify.runner import Endpoints, run
from streams.notify.worker import ChannelWorker, ensure_group
from tests.integration.notifier_harness import (
    SECRET,
    Receiver,
    make_alert,
    produce,
    wait_for,
    webhook_channel_toml,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def fast(prefix: str, **over: Any) -> str:
    kv = {"redis_prefix": f'"{prefix}"', "max_attempts": 3, "backoff_base_seconds": 0.05,
          "backoff_cap_seconds": 0.2, "claim_idle_seconds": 5.0, "send_timeout_seconds": 3.0,
          "default_cooldown_seconds": 0.0, "poll_seconds": 0.05}
    kv.update(over)
    return "[notifier]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items())


class ScriptedChannel:
    """A channel whose behaviour the test sets: `fail` returns an error to raise, or None."""

    kind = "test"

    def __init__(self, name: str, fail: Callable[[Delivery], Exception | None] = lambda d: None) -> None:
        self.name, self.fail = name, fail
        self.sent: list[Delivery] = []
        self.calls = 0

    async def send(self, delivery: Delivery) -> None:
        self.calls += 1
        err = self.fail(delivery)
        if err is not None:
            raise err
        self.sent.append(delivery)

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = await Receiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
def alerts_topic(unique_topic: Any) -> str:
    return str(unique_topic("alerts"))


@asynccontextmanager
async def notifier(cfg: NotifierConfig, channels: dict[str, Any], redis_url: str, bootstrap: str,
                   topic: str) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(cfg, channels, Endpoints(redis_url, bootstrap, topic, f"{topic}.notifier"),
                                   stop=stop, install_signals=False))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_webhook_delivery_end_to_end_with_duplicates_and_malformed(
        redis: Redis, redis_url: str, redis_prefix: str, kafka_bootstrap: str, alerts_topic: str,
        receiver: Receiver) -> None:
    topic = alerts_topic
    cfg = parse_config(fast(redis_prefix) + webhook_channel_toml("csm", receiver.url("ok"))
                       + webhook_channel_toml("guidance", receiver.url("ok")))
    down = [make_alert(i, to="red" if i % 2 else "at_risk") for i in range(20)]
    yellow = make_alert(100, frm="green", to="yellow")
    green = make_alert(101, frm="yellow", to="green")  # the band table: into green -> nothing
    values = [a.to_json() for a in [*down, yellow, green]]
    values.insert(5, down[3].to_json())            # the same alert twice on the topic
    values.insert(9, b"{not json")                      # malformed: logged, dead-lettered, skipped
    values.insert(12, orjson.dumps({"alert_id": 5, "to": "red"}))
    await produce(kafka_bootstrap, topic, values)
    channels = {n: build_channel(n, c) for n, c in cfg.channels.items()}
    async with notifier(cfg, channels, redis_url, kafka_bootstrap, topic):
        await wait_for(lambda: len(receiver.accepted) >= 21, what="21 deliveries")
        await wait_for(lambda: redis.xlen(Keys(redis_prefix).dlq()), what="dead letters")
        await asyncio.sleep(0.5)  # a duplicate, were one coming, would have arrived by now
    by_channel = {(b["channel"], b["alert_id"]) for b in receiver.accepted.values()}
    assert by_channel == {("csm", a.alert_id) for a in down} | {("guidance", yellow.alert_id)}
    assert receiver.duplicates == []
    assert sum(receiver.requests.values()) == 21            # the duplicate alert was never sent twice
    assert green.alert_id not in receiver.requests
    wh = standardwebhooks.Webhook(SECRET)                   # an independent signature check
    for key, raw in receiver.raw.items():
        assert key == f"{receiver.accepted[key]['alert_id']}.{receiver.accepted[key]['channel']}"
        assert wh.verify(raw, receiver.headers[key])["alert_id"] == receiver.accepted[key]["alert_id"]
    dead = await redis.xrange(Keys(redis_prefix).dlq())
    assert len(dead) == 2
    assert all(f["channel"] == "" and "malformed" in f["last_error"] for _i, f in dead)


async def drain(worker: ChannelWorker, redis: Redis) -> list[str]:
    """Run the stages on every entry now on the worker's stream, one at a time, in order."""
    await ensure_group(redis, worker.stream)
    outcomes = []
    while True:
        resp = await redis.xreadgroup(GROUP, "t", {worker.stream: ">"}, count=100)
        if not resp:
            return outcomes
        for entry_id, fields in resp[0][1]:
            outcomes.append(await worker.handle(entry_id, fields))


async def test_cooldown_per_account_and_route_bypassed_when_worse(redis: Redis, redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix, default_cooldown_seconds=3600))
    keys = Keys(redis_prefix)
    csm = ScriptedChannel("csm")
    router = Router(redis, keys, cfg.notifier, cfg.effective_routes() or
                    parse_config(fast(redis_prefix) + '[[routes]]\nname = "csm-at-risk-red"\nto = ["at_risk", "red"]\n'
                                 'direction = ["down"]\nchannels = ["csm"]\ncooldown_seconds = 3600\n'
                                 '[channels.csm]\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\n'
                                 f'secret = "{SECRET}"\n').routes or ())
    worker = ChannelWorker(redis, keys, csm, cfg.notifier)
    steps = [
        (make_alert(1, account="a", frm="green", to="red"), "delivered"),   # opens the cooldown
        (make_alert(2, account="a", frm="yellow", to="red"), "cooldown"),   # same band: held back
        (make_alert(3, account="a", frm="red", to="at_risk"), "delivered"), # worse: bypasses
        (make_alert(4, account="a", frm="yellow", to="red"), "cooldown"),   # red is not worse than at_risk
        (make_alert(5, account="b", frm="yellow", to="red"), "delivered"),  # another account
    ]
    got = []
    for alert, _want in steps:
        await router.handle([(alert.to_json(), "test")])
        got += await drain(worker, redis)
    assert got == [want for _a, want in steps]
    assert [d.alert_id for d in csm.sent] == [steps[i][0].alert_id for i in (0, 2, 4)]
    # the same alert handed off again (a re-read batch) is not even put on the stream
    await router.handle([(steps[0][0].to_json(), "test")])
    assert await drain(worker, redis) == []


async def test_retries_then_dead_letter_then_cli_retry_and_purge(redis: Redis, redis_url: str,
                                                                 redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix, max_attempts=3))
    keys = Keys(redis_prefix)
    broken = {"on": True}
    ch = ScriptedChannel("csm", lambda d: RetryableDeliveryError("receiver said 503") if broken["on"] else None)
    perm = ScriptedChannel("mail", lambda d: PermanentDeliveryError("550 no such mailbox"))
    alert = make_alert(1)
    stop = asyncio.Event()
    workers = [asyncio.create_task(ChannelWorker(redis, keys, c, cfg.notifier).run(stop)) for c in (ch, perm)]
    try:
        for c in ("csm", "mail"):
            e = {"alert_id": alert.alert_id, "alert": alert.to_json().decode(), "route": "r",
                 "cooldown": "0", "attempt": "1", "handoff_at": "1.0", "last_error": ""}
            await redis.xadd(keys.stream(c), e)
        await wait_for(lambda: redis.xlen(keys.dlq()), what="dead letter")
        await wait_for(lambda: ch.calls >= 3 and perm.calls >= 1, what="attempts")
        await wait_for(lambda: _xlen_is(redis, keys.dlq(), 2), what="both dead letters")
        assert ch.calls == 3 and perm.calls == 1                     # N attempts; a permanent error: one
        dead = {f["channel"]: f for _i, f in await redis.xrange(keys.dlq())}
        assert dead["csm"]["attempts"] == "3" and "receiver said 503" in dead["csm"]["last_error"]
        assert dead["mail"]["attempts"] == "1" and "550" in dead["mail"]["last_error"]
        env = {**os.environ, "REDIS_URL": redis_url}
        cli = [sys.executable, "-m", "streams.cli", "alerts", "dlq"]
        listed = subprocess.run([*cli, "list", "--json", "--redis-prefix", redis_prefix], env=env,
                                capture_output=True, text=True, check=True)
        rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
        assert {r["channel"] for r in rows} == {"csm", "mail"} and rows[0]["alert"]["alert_id"] == alert.alert_id
        csm_id = next(r["id"] for r in rows if r["channel"] == "csm")
        mail_id = next(r["id"] for r in rows if r["channel"] == "mail")
        broken["on"] = False
        subprocess.run([*cli, "retry", csm_id, "--redis-prefix", redis_prefix], env=env, check=True,
                       capture_output=True)
        await wait_for(lambda: len(ch.sent) == 1, what="delivery after dlq retry")
        assert ch.sent[0].attempt == 1 and ch.sent[0].alert_id == alert.alert_id
        purged = subprocess.run([*cli, "purge", mail_id, "--redis-prefix", redis_prefix], env=env,
                                check=True, capture_output=True, text=True)
        assert "purged 1" in purged.stderr
        assert await redis.xlen(keys.dlq()) == 0
    finally:
        stop.set()
        await asyncio.gather(*workers)


async def _xlen_is(redis: Redis, key: str, n: int) -> bool:
    return int(await redis.xlen(key)) == n


async def test_retry_after_is_honoured(redis: Redis, redis_prefix: str, receiver: Receiver) -> None:
    cfg = parse_config(fast(redis_prefix, max_attempts=3) + webhook_channel_toml("hook", receiver.url("retry-after")))
    ch = build_channel("hook", cfg.channels["hook"])
    keys = Keys(redis_prefix)
    router = Router(redis, keys, cfg.notifier, parse_config(
        fast(redis_prefix) + webhook_channel_toml("hook", receiver.url("retry-after"))
        + '[[routes]]\nname = "all"\nchannels = ["hook"]\n').routes or ())
    alert = make_alert(1)
    stop = asyncio.Event()
    task = asyncio.create_task(ChannelWorker(redis, keys, ch, cfg.notifier).run(stop))
    try:
        await router.handle([(alert.to_json(), "test")])
        await wait_for(lambda: len(receiver.accepted) == 1, what="delivery after 429")
    finally:
        stop.set()
        await task
        await ch.aclose()
    t = receiver.times[alert.alert_id]
    assert receiver.requests[alert.alert_id] == 2
    assert t[1] - t[0] >= 0.9   # Retry-After: 1 beat the 0.05 s backoff


async def test_ssrf_target_refused_with_a_clear_log_line(redis: Redis, redis_prefix: str, receiver: Receiver,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    toml = (fast(redis_prefix) + f'[channels.hook]\ntype = "webhook"\nurl = "{receiver.url("ok")}"\n'
            f'secret = "{SECRET}"\n[[routes]]\nname = "all"\nchannels = ["hook"]\n')  # no allow_networks
    cfg = parse_config(toml)
    ch = build_channel("hook", cfg.channels["hook"])
    keys = Keys(redis_prefix)
    worker = ChannelWorker(redis, keys, ch, cfg.notifier)
    await Router(redis, keys, cfg.notifier, cfg.effective_routes()).handle([(make_alert(1).to_json(), "t")])
    with caplog.at_level(logging.ERROR, logger="pulse.notifier"):
        assert await drain(worker, redis) == ["dead"]
    await ch.aclose()
    assert receiver.requests == {}
    line = next(r.getMessage() for r in caplog.records if "REFUSED" in r.getMessage())
    assert "SSRF" in line and "127.0.0.1" in line
    (_id, f), = await redis.xrange(keys.dlq())
    assert f["attempts"] == "1" and "RefusedTargetError" in f["last_error"]


async def test_alerts_of_one_account_are_handled_in_order_under_concurrency(redis: Redis,
                                                                           redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix, default_cooldown_seconds=3600, concurrency=16))
    keys = Keys(redis_prefix)

    class Slow(ScriptedChannel):
        async def send(self, delivery: Delivery) -> None:
            await asyncio.sleep(0.05 if delivery.alert.to_band == "red" else 0.0)
            await super().send(delivery)

    csm = Slow("csm")
    routes = parse_config(fast(redis_prefix) + HOOK_CSM + '[[routes]]\nname = "r"\nchannels = ["csm"]\n').routes
    router = Router(redis, keys, cfg.notifier, routes or ())
    batch = [make_alert(1, account="a", frm="yellow", to="red"),      # opens the cooldown
             make_alert(2, account="a", frm="red", to="at_risk"),     # worse: goes through, after 1
             make_alert(3, account="a", frm="at_risk", to="red"),     # held back
             *[make_alert(10 + i, account=f"other-{i}", to="at_risk") for i in range(10)]]
    await router.handle([(a.to_json(), "test") for a in batch])   # one batch, one XADD each
    stop = asyncio.Event()
    task = asyncio.create_task(ChannelWorker(redis, keys, csm, cfg.notifier).run(stop))
    try:
        await wait_for(lambda: len(csm.sent) == 12, what="12 deliveries")
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await task
    mine = [d.alert.to_band for d in csm.sent if d.alert.account == "a"]
    assert mine == ["red", "at_risk"]
    assert csm.calls == 12


HOOK_CSM = f'[channels.csm]\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\nsecret = "{SECRET}"\n'


async def test_entries_of_a_dead_worker_are_claimed_and_delivered(redis: Redis, redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix, send_timeout_seconds=0.2, claim_idle_seconds=0.3))
    keys = Keys(redis_prefix)
    routes = parse_config(fast(redis_prefix) + HOOK_CSM + '[[routes]]\nname = "r"\nchannels = ["csm"]\n').routes
    alerts = [make_alert(i) for i in range(5)]
    await Router(redis, keys, cfg.notifier, routes or ()).handle([(a.to_json(), "t") for a in alerts])
    stream = keys.stream("csm")
    await ensure_group(redis, stream)
    # a worker that read the entries and died before acknowledging any of them
    taken = await redis.xreadgroup(GROUP, "dead-worker", {stream: ">"}, count=10)
    assert len(taken[0][1]) == 5
    assert (await redis.xpending(stream, GROUP))["pending"] == 5
    csm = ScriptedChannel("csm")
    stop = asyncio.Event()
    task = asyncio.create_task(ChannelWorker(redis, keys, csm, cfg.notifier, consumer="alive").run(stop))
    try:
        await wait_for(lambda: len(csm.sent) == 5, what="the claimed entries delivered")
    finally:
        stop.set()
        await task
    assert sorted(d.alert_id for d in csm.sent) == sorted(a.alert_id for a in alerts)
    assert (await redis.xpending(stream, GROUP))["pending"] == 0


async def test_one_alert_reaches_a_webhook_and_an_smtp_inbox(redis: Redis, redis_url: str, redis_prefix: str,
                                                            kafka_bootstrap: str, alerts_topic: str,
                                                            receiver: Receiver) -> None:
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    inbox: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            inbox.append(message_from_bytes(envelope.original_content, policy=policy.default))
            return "250 OK"

    port = free_port()  # aiosmtpd's readiness check cannot use port 0
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg = parse_config(fast(redis_prefix) + webhook_channel_toml("hook", receiver.url("ok"))
                           + f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
                           'starttls = false\nfrom = "pulse@example.com"\nto = ["csm@example.com"]\n'
                           '[[routes]]\nname = "enterprise-red"\nto = ["red"]\ntraits = { plan = ["enterprise"] }\n'
                           'channels = ["hook", "mail"]\n')
        hit, miss = make_alert(1, plan="enterprise"), make_alert(2, plan="team")
        await produce(kafka_bootstrap, alerts_topic, [hit.to_json(), miss.to_json()])
        channels = {n: build_channel(n, c) for n, c in cfg.channels.items()}
        async with notifier(cfg, channels, redis_url, kafka_bootstrap, alerts_topic):
            await wait_for(lambda: len(receiver.accepted) == 1 and len(inbox) == 1, what="webhook + e-mail")
    finally:
        smtp.stop()
    (body,) = receiver.accepted.values()
    assert body["alert_id"] == hit.alert_id
    assert inbox[0]["To"] == "csm@example.com" and "acct-1" in inbox[0]["Subject"]
    assert inbox[0]["Message-ID"].startswith(f"<{hit.alert_id}.mail@")  # the idempotency key
    assert miss.alert_id not in receiver.requests


async def test_an_entry_that_killed_every_worker_is_dead_lettered_not_retried_forever(
        redis: Redis, redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix, max_attempts=3, send_timeout_seconds=0.2, claim_idle_seconds=0.3))
    keys = Keys(redis_prefix)
    routes = parse_config(fast(redis_prefix) + HOOK_CSM + '[[routes]]\nname = "r"\nchannels = ["csm"]\n').routes
    poison, fine = make_alert(1), make_alert(2)
    await Router(redis, keys, cfg.notifier, routes or ()).handle([(a.to_json(), "t") for a in (poison, fine)])
    stream = keys.stream("csm")
    await ensure_group(redis, stream)
    (_s, rows), = await redis.xreadgroup(GROUP, "dead-1", {stream: ">"}, count=10)
    # the first entry was read by 5 workers in turn, each killed while handling it
    await redis.xclaim(stream, GROUP, "dead-5", min_idle_time=0, message_ids=[rows[0][0]], retrycount=5)
    csm = ScriptedChannel("csm")
    stop = asyncio.Event()
    task = asyncio.create_task(ChannelWorker(redis, keys, csm, cfg.notifier, consumer="alive").run(stop))
    try:
        await wait_for(lambda: len(csm.sent) == 1, what="the healthy entry delivered")
        await wait_for(lambda: redis.xlen(keys.dlq()), what="the poison entry dead-lettered")
    finally:
        stop.set()
        await task
    assert [d.alert_id for d in csm.sent] == [fine.alert_id]
    (_id, f), = await redis.xrange(keys.dlq())
    assert f["alert_id"] == poison.alert_id and "read 6 times" in f["last_error"]
    assert (await redis.xpending(stream, GROUP))["pending"] == 0


async def test_worker_survives_its_stream_being_deleted(redis: Redis, redis_prefix: str) -> None:
    cfg = parse_config(fast(redis_prefix))
    keys = Keys(redis_prefix)
    routes = parse_config(fast(redis_prefix) + HOOK_CSM + '[[routes]]\nname = "r"\nchannels = ["csm"]\n').routes
    router = Router(redis, keys, cfg.notifier, routes or ())
    csm = ScriptedChannel("csm")
    stop = asyncio.Event()
    task = asyncio.create_task(ChannelWorker(redis, keys, csm, cfg.notifier).run(stop))
    try:
        await router.handle([(make_alert(1).to_json(), "t")])
        await wait_for(lambda: len(csm.sent) == 1, what="first delivery")
        await redis.delete(keys.stream("csm"))            # e.g. an operator's cleanup
        await router.handle([(make_alert(2).to_json(), "t")])
        await wait_for(lambda: len(csm.sent) == 2, what="delivery after the stream came back")
    finally:
        stop.set()
        await task
    assert not task.exception()
