"""Security settings: what every Kafka and Redis client of Pulse is built with, and what a repr or
a message may show of it."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from streams.kafka import kafka_auth
from streams.settings import Settings, redact_url
from streams.worker.app import faust_auth


def settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_plaintext_by_default() -> None:
    assert kafka_auth(settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_auth(settings()) == {}


def test_sasl_ssl_checks_the_certificate_and_host_name(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text((Path(ssl.get_default_verify_paths().openssl_cafile or "/etc/ssl/certs/ca-certificates.crt")
                   ).read_text())
    s = settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="pulse",
                 kafka_sasl_password=SecretStr("s3cret-pw"), kafka_ca_file=ca)
    kw = kafka_auth(s)
    ctx = kw.pop("ssl_context")
    assert kw == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                  "sasl_plain_username": "pulse", "sasl_plain_password": "s3cret-pw"}
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    # Faust turns its broker_credentials into the same aiokafka arguments (fails loudly if a Faust
    # upgrade changes how credentials reach its consumer, producer and topic client)
    faust_kw = dict(credentials_to_aiokafka_auth(faust_auth(s)["broker_credentials"]))
    assert faust_kw.pop("ssl_context").check_hostname
    assert faust_kw == kw
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in repr(faust_auth(s))


@pytest.mark.parametrize("kw", [{"kafka_security_protocol": "SASL_SSL"},
                                {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"},
                                {"kafka_ca_file": Path("/nonexistent/ca.pem")}])
def test_incomplete_security_settings_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="PULSE_KAFKA_"):
        settings(**kw)


def test_redis_credentials_join_the_url_and_never_its_address() -> None:
    s = settings(redis_url=SecretStr("redis://10.0.0.5:6380/2"), redis_username="pulse",
                 redis_password=SecretStr("p@ss:w/rd"))
    assert s.redis == "redis://pulse:p%40ss%3Aw%2Frd@10.0.0.5:6380/2"
    assert s.redis_address == "redis://***@10.0.0.5:6380/2"
    only_pw = settings(redis_url=None, redis_port=16390, redis_password=SecretStr("pw"))
    assert only_pw.redis == "redis://:pw@127.0.0.1:16390/0"  # requirepass: no user
    in_url = settings(redis_url=SecretStr("redis://u:inurl@h:1/0"))
    assert in_url.redis == "redis://u:inurl@h:1/0" and in_url.redis_address == "redis://***@h:1/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    for x in (s, only_pw, in_url):
        assert "p@ss" not in repr(x) and "inurl" not in repr(x) and "'pw'" not in repr(x)


def test_sasl_plain_bytes_never_reach_aiokafkas_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    """aiokafka.conn logs each request at DEBUG; SASL PLAIN's is `\\0user\\0password`."""
    from aiokafka.protocol.admin import SaslAuthenticateRequest_v1

    request = SaslAuthenticateRequest_v1(b"\x00pulse\x00hunter2-plain")
    assert "hunter2-plain" in str(request)  # what aiokafka would print
    kafka_auth(settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="pulse", kafka_sasl_password=SecretStr("hunter2-plain")))
    with caplog.at_level(logging.DEBUG, logger="aiokafka.conn"):
        logging.getLogger("aiokafka.conn").debug("Request to %s:%d %d: %s", "127.0.0.1", 9092, 3, request)
    assert "Request to 127.0.0.1:9092 3: <SASL authentication bytes hidden>" in caplog.text
    assert "hunter2-plain" not in caplog.text
