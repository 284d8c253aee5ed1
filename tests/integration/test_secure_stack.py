"""Security on a REAL secure stack (one per module, private, free ports): Kafka SASL_SSL with
SCRAM-SHA-512 and a generated CA, Redis with an ACL user.

- what is refused: a wrong SASL password, a PLAINTEXT client, a client that does not trust the
  CA; Redis without or with a wrong password;
- a demo-like run through it (the Segment client -> pulse ingest with a write key -> worker ->
  notifier with a signed webhook, Slack and SMTP with a password -> dashboard with delivery
  status from Redis): alerts are scored and delivered, and no secret of the run is in any log
  (every process's at DEBUG, the broker's and Redis's).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.cli.tail import tail
from streams.dev.stack import free_port
from streams.kafka import kafka_auth
from streams.topics import TopicNames, create_topics
from tests.integration.channel_harness import HttpReceiver, start_smtp
from tests.integration.ingest_harness import write_key_file
from tests.integration.notifier_harness import SECRET
from tests.integration.secure_harness import ROOT, Proc, SecureStack, start_secure_stack

WRITE_KEY = "wk-secure-4f1d2c9a7b"
SMTP_PASSWORD = "smtp-pw-9c1e77d0a3"
SLACK_TOKEN = "T0SECRETB0SECRETxoxsecret5a1b2c3d"


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    yield from start_secure_stack(tmp_path_factory.mktemp("secure") / "stack")


async def _connect(bootstrap: str, **auth: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **auth)
    try:
        await asyncio.wait_for(producer.start(), 30)
    finally:
        await producer.stop()


async def test_kafka_refuses_wrong_password_plaintext_and_untrusted_ca(
        secure: SecureStack, caplog: pytest.LogCaptureFixture) -> None:
    good = kafka_auth(secure.client)
    assert good["security_protocol"] == "SASL_SSL" and good["sasl_mechanism"] == "SCRAM-SHA-512"
    await _connect(secure.bootstrap, **good)  # the control: the right client gets in

    cases = {
        "wrong password": ({**good, "sasl_plain_password": "not-the-password"},
                           "Authentication failed during authentication due to invalid credentials"),
        "no TLS, no SASL": ({}, "closed"),
        "SASL without TLS": ({k: v for k, v in good.items() if k != "ssl_context"}
                             | {"security_protocol": "SASL_PLAINTEXT"}, "closed"),
        "CA not trusted": ({**good, "ssl_context": ssl.create_default_context()},
                           "CERTIFICATE_VERIFY_FAILED"),
    }
    for what, (auth, why) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
            await _connect(secure.bootstrap, **auth)
        assert why in caplog.text, f"{what}: {caplog.text}"


def test_redis_refuses_without_or_with_a_wrong_password(secure: SecureStack) -> None:
    port = secure.stack.redis_port
    # redis-py opens with HELLO; Redis answers NOAUTH ("... must be called with the client already
    # authenticated"): no command runs before AUTH
    with pytest.raises(redis.AuthenticationError, match=r"already authenticated|Authentication required"):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).get("anything")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        redis.Redis(port=port, username=secure.client.redis_username, password="wrong").ping()
    r = redis.Redis.from_url(secure.client.redis)
    assert r.ping() and r.acl_whoami() == "pulse"


def _notifier_toml(receiver: str, smtp_port: int, prefix: str) -> str:
    return f"""
[notifier]
redis_prefix = "{prefix}"
default_cooldown_seconds = 0.0
backoff_base_seconds = 0.1
backoff_cap_seconds = 0.5
poll_seconds = 0.05

[channels.hook]
type = "webhook"
url = "{receiver}/hook"
secret = "{SECRET}"
allow_networks = ["127.0.0.1/32"]

[channels.slack]
type = "slack"
webhook_url = "{receiver}/slack/{SLACK_TOKEN}"
allow_networks = ["127.0.0.1/32"]

[channels.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "pulse@localhost"
to = ["cs@localhost"]
username = "pulse"
password = "{SMTP_PASSWORD}"

[[routes]]
name = "everything"
channels = ["hook", "slack", "mail"]
"""


def _alerts(secure: SecureStack, topic: str) -> list[dict[str, Any]]:
    got: list[bytes] = []
    asyncio.run(tail(secure.bootstrap, topic, from_beginning=True, idle_exit=3.0, emit=got.append,
                     auth=kafka_auth(secure.client)))
    return [orjson.loads(v) for v in got]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_demo_run_through_the_secure_stack_logs_no_secret(secure: SecureStack, tmp_path: Path) -> None:
    prefix = f"sec{int(time.time())}."
    redis_prefix = f"secure:{prefix}"
    names = TopicNames(prefix)
    create_topics(secure.client.model_copy(update={"topic_prefix": prefix}), 1)
    env = {**secure.env, "PULSE_TOPIC_PREFIX": prefix, "PULSE_DATA_DIR": str(tmp_path / "data"),
           "PULSE_DASHBOARD_REDIS_PREFIX": redis_prefix}

    receiver = HttpReceiver()  # served by its own event loop in a thread (this test blocks)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(10)
    smtp, inbox = start_smtp(login=("pulse", SMTP_PASSWORD))
    (tmp_path / "notifier.toml").write_text(_notifier_toml(receiver.base_url, smtp.port, redis_prefix))
    keys = write_key_file(tmp_path / "keys.toml", {"demo": WRITE_KEY})
    ingest_port, web_port, dash_port = free_port(), free_port(), free_port()
    procs = [
        Proc("ingest", ["-m", "streams.cli", "ingest", "--config", str(keys), "--port", str(ingest_port),
                        "--loglevel", "debug"], env, tmp_path),
        Proc("worker", ["-m", "streams.cli", "worker", "--web-port", str(web_port), "--loglevel", "debug"],
             env, tmp_path),
        Proc("notifier", ["-m", "streams.cli", "notifier", "--config", str(tmp_path / "notifier.toml"),
                          "--metrics-port", "0", "--loglevel", "debug"], env, tmp_path),
        Proc("dashboard", ["-m", "streams.cli", "dashboard", "--port", str(dash_port), "--loglevel", "debug"],
             env, tmp_path),
    ]
    try:
        for p in procs:
            p.start()
        procs[0].wait_http(f"http://127.0.0.1:{ingest_port}/ready")
        sender = Proc("segment", ["-m", "streams.dev.segment_send", str(ROOT / "examples" / "demo.jsonl"),
                                  "--host", f"http://127.0.0.1:{ingest_port}", "--write-key", WRITE_KEY],
                      env, tmp_path).start()
        assert sender.proc is not None and sender.proc.wait(120) == 0, sender.log.read_text()[-2000:]

        deadline = time.monotonic() + 150
        hooks: list[Any] = []
        while time.monotonic() < deadline:
            for p in procs:
                p.alive()
            hooks = [r for r in receiver.received if r.path == "/hook"]
            slack = [r for r in receiver.received if r.path.startswith("/slack/")]
            if hooks and slack and inbox.envelopes:
                break
            time.sleep(0.5)
        alerts = _alerts(secure, names.alerts)
        assert alerts, "the worker raised no alert through the secure broker"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(hooks) < len(alerts):
            time.sleep(0.5)
            hooks = [r for r in receiver.received if r.path == "/hook"]
        delivered = {orjson.loads(r.body)["alert_id"] for r in hooks}
        assert delivered == {a["alert_id"] for a in alerts}
        assert all("webhook-signature" in r.headers for r in hooks)
        assert len([r for r in receiver.received if r.path == f"/slack/{SLACK_TOKEN}"]) == len(alerts)
        assert len(inbox.envelopes) == len(alerts)

        # the dashboard read the alerts through SASL_SSL and their delivery status through Redis's ACL user
        account = alerts[0]["account"]
        procs[3].wait_http(f"http://127.0.0.1:{dash_port}/healthz")
        deadline = time.monotonic() + 60
        status: Any = None
        while time.monotonic() < deadline:
            got = httpx.get(f"http://127.0.0.1:{dash_port}/api/account", params={"id": account}, timeout=5)
            if got.status_code == 200:
                status = [al.get("delivery") for al in got.json()["alerts"]]
                if status and all(isinstance(d, dict) and d for d in status):
                    break
            time.sleep(0.5)
        assert status and all(d == {"hook": "delivered", "slack": "delivered", "mail": "delivered"}
                              for d in status), status
    finally:
        for p in procs:
            p.stop()
        smtp.stop()
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    secrets = {"write key": WRITE_KEY, "webhook signing secret": SECRET,
               "webhook signing secret (base64 part)": SECRET.removeprefix("whsec_"),
               "SMTP password": SMTP_PASSWORD, "Slack URL token": SLACK_TOKEN, **secure.secrets()}
    logs = [p.log for p in procs] + [sender.log] + secure.logs()
    texts = {log.name: log.read_text(errors="replace") for log in logs}
    # the processes log at DEBUG: their Kafka clients' SASL exchange is in the text searched
    for name in ("ingest.log", "worker.log", "dashboard.log"):
        assert "SaslHandShakeRequest_v1(mechanism='SCRAM-SHA-512')" in texts[name], name
    assert sum(len(t) for t in texts.values()) > 100_000, {k: len(t) for k, t in texts.items()}
    hits = [(what, name) for what, value in secrets.items() for name, text in texts.items() if value in text]
    print(f"\n{len(secrets)} secrets checked in {len(texts)} logs "
          f"({sum(len(t) for t in texts.values())} bytes): {hits or 'no hit'}", file=sys.stderr)
    assert hits == []


def test_pulse_stack_up_and_status_secure_reach_it_and_print_no_secret(secure: SecureStack) -> None:
    s = secure.stack
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update(PULSE_STACK_DIR=str(s.stack_dir), PULSE_KAFKA_PORT=str(s.kafka_port),
               PULSE_KAFKA_CONTROLLER_PORT=str(s.kafka_controller_port), PULSE_REDIS_PORT=str(s.redis_port),
               PULSE_TOPIC_PREFIX=f"cli{int(time.time())}.", COLUMNS="300")
    cli = [sys.executable, "-m", "streams.cli", "stack"]
    up = subprocess.run([*cli, "up", "--secure"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert up.returncode == 0, up.stderr
    assert "topics created:" in up.stdout and f"{secure.paths.home / 'pulse.env'}" in up.stdout.replace("\n", "")
    status = subprocess.run([*cli, "status", "--secure", "--json"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert status.returncode == 0, status.stderr
    rows = {r["name"]: r for r in json.loads(status.stdout)}
    assert rows["kafka"]["answering"] and rows["redis"]["answering"]
    assert rows["redis"]["address"] == f"redis://***@127.0.0.1:{s.redis_port}/0"
    plain = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
    assert plain.returncode == 1  # the plain stack's folder: nothing of ours runs there
    shown = up.stdout + up.stderr + status.stdout + status.stderr
    assert [what for what, v in secure.secrets().items() if v in shown] == []
