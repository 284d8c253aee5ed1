"""The SSRF guard's pure address check, Retry-After parsing and the channel config models."""

from __future__ import annotations

import ipaddress
import re
import time
import tomllib
from email.utils import formatdate
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.notify.channels import EmailConfig, SlackConfig, WebhookConfig, parse_channel_config
from streams.notify.channels.http import parse_retry_after
from streams.notify.channels.ssrf import parse_networks, refusal_reason

REFUSED = {
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.10": "private",
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "0.0.0.0": "unspecified",
    "169.254.169.254": "cloud metadata endpoint",
    "169.254.170.2": "cloud metadata endpoint",
    "169.254.1.1": "link-local",
    "224.0.0.251": "multicast",
    "100.64.0.1": "not globally routable",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd00:ec2::254": "cloud metadata endpoint",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "IPv4-mapped 127.0.0.1: loopback",
    "::ffff:10.0.0.1": "IPv4-mapped 10.0.0.1: private",
    "::ffff:169.254.169.254": "IPv4-mapped 169.254.169.254: cloud metadata endpoint",
    "64:ff9b::a9fe:a9fe": "NAT64 169.254.169.254: cloud metadata endpoint",
    "2002:7f00:1::1": "6to4 127.0.0.1: loopback",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("addr", "why"), sorted(REFUSED.items()))
def test_non_public_addresses_are_refused(addr: str, why: str) -> None:
    assert refusal_reason(ipaddress.ip_address(addr)) == why


@pytest.mark.parametrize("addr", PUBLIC)
def test_public_addresses_pass(addr: str) -> None:
    assert refusal_reason(ipaddress.ip_address(addr)) is None


def test_allow_list_lets_listed_networks_through_and_nothing_else() -> None:
    allow = parse_networks(["127.0.0.1/32", "10.20.0.0/16", "fd12::/16"])
    ip = ipaddress.ip_address
    assert refusal_reason(ip("127.0.0.1"), allow) is None
    assert refusal_reason(ip("::ffff:127.0.0.1"), allow) is None  # the mapped form of an allowed address
    assert refusal_reason(ip("10.20.3.4"), allow) is None
    assert refusal_reason(ip("fd12::5"), allow) is None
    assert refusal_reason(ip("127.0.0.2"), allow) == "loopback"
    assert refusal_reason(ip("10.21.0.1"), allow) == "private"
    assert refusal_reason(ip("::1"), allow) == "loopback"


def test_metadata_needs_an_exact_single_address_entry() -> None:
    md = ipaddress.ip_address("169.254.169.254")
    assert refusal_reason(md, parse_networks(["169.254.0.0/16"])) == "cloud metadata endpoint"
    assert refusal_reason(md, parse_networks(["0.0.0.0/0"])) == "cloud metadata endpoint"
    assert refusal_reason(md, parse_networks(["169.254.169.254/32"])) is None
    assert refusal_reason(ipaddress.ip_address("169.254.1.1"), parse_networks(["169.254.0.0/16"])) is None


def test_retry_after_both_forms() -> None:
    now = time.time()
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    date = formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90, abs=1.0)
    assert parse_retry_after(formatdate(now - 3600, usegmt=True), now=now) == 0.0


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_configs_validate_into_their_types() -> None:
    w = parse_channel_config({"type": "webhook", "url": "https://hooks.example.com/x", "secret": SECRET,
                              "allow_networks": ["10.0.0.0/8"]})
    assert isinstance(w, WebhookConfig) and w.allow_networks == ("10.0.0.0/8",)
    assert SECRET not in repr(w) and SECRET not in str(w.model_dump())
    s = parse_channel_config({"type": "slack", "webhook_url_env": "SLACK_URL"})
    assert isinstance(s, SlackConfig)
    e = parse_channel_config({"type": "email", "host": "smtp.example.com", "from": "p@example.com",
                              "to": ["a@example.com"], "username": "u", "password": "pw"})
    assert isinstance(e, EmailConfig) and e.port == 587 and e.starttls and e.from_ == "p@example.com"
    assert "pw" not in repr(e)


@pytest.mark.parametrize("table", [
    {"type": "webhook", "url": "https://x.example", "secret": SECRET, "timeout": 3},            # unknown key
    {"type": "webhook", "url": "https://x.example"},                                           # no secret
    {"type": "webhook", "url": "https://x.example", "secret": SECRET, "secret_env": "S"},      # both
    {"type": "webhook", "url": "https://x.example", "secret": "not-whsec"},
    {"type": "webhook", "url": "https://x.example", "secret": "whsec_c2hvcnQ="},               # 5-byte key
    {"type": "webhook", "url": "file:///etc/passwd", "secret": SECRET},
    {"type": "webhook", "url": "https://x.example:99999/", "secret": SECRET},
    {"type": "webhook", "url": "https://x.example/a b", "secret": SECRET},
    {"type": "webhook", "url": "https://x.example", "secret": SECRET, "allow_networks": ["lan"]},
    {"type": "webhook", "url": "https://x.example", "secret": SECRET, "read_timeout": "10"},   # strict
    {"type": "slack", "webhook_url": "hooks.slack.com/services/x"},
    {"type": "slack", "webhook_url": "https://hooks.slack.com/x", "account_url": "app/{account}"},
    {"type": "email", "host": "h", "from": "p@example.com", "to": []},
    {"type": "email", "host": "h", "from": "p@example.com", "to": ["a@example.com, b@example.com"]},
    {"type": "email", "host": "h", "from": "p@example.com", "to": ["a@example.com"], "password": "pw"},
    {"type": "email", "host": "h", "from": "p@example.com\r\nBcc: x@evil.example", "to": ["a@example.com"]},
    {"type": "email", "host": "h", "from": "Pulse <p@example.com>", "to": ["a@example.com"]},
    {"type": "email", "host": "h", "from": "p@example.com", "to": ["a@example.com"], "tls": True},
    {"type": "pager", "url": "https://x.example"},
])
def test_bad_tables_are_rejected(table: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as ei:
        parse_channel_config(table)
    assert SECRET not in str(ei.value)


def test_the_readme_example_validates() -> None:
    readme = (Path(__file__).parents[2] / "streams/notify/channels/README.md").read_text("utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", readme, re.S)
    tables = tomllib.loads(example)["channels"]
    kinds = {name: type(parse_channel_config(table)).__name__ for name, table in tables.items()}
    assert kinds == {"ops-hook": "WebhookConfig", "csm-slack": "SlackConfig", "csm-mail": "EmailConfig"}


@pytest.mark.parametrize(("addr", "allow"), [
    ("::ffff:169.254.169.254", "::ffff:0:0/96"),  # every IPv4-mapped address
    ("::ffff:169.254.169.254", "::/0"),
    ("64:ff9b::a9fe:a9fe", "64:ff9b::/96"),  # every NAT64 address
    ("2002:a9fe:a9fe::1", "2002::/16"),  # every 6to4 address
    ("fd00:ec2::254", "0.0.2.84/32"),  # the low 32 bits of the IPv6 metadata address, as IPv4
])
def test_a_wrapped_metadata_address_is_not_let_through_by_a_wide_network(addr: str, allow: str) -> None:
    assert refusal_reason(ipaddress.ip_address(addr), parse_networks([allow])) is not None


def test_a_wrapped_metadata_address_passes_with_its_exact_entry() -> None:
    ip = ipaddress.ip_address
    assert refusal_reason(ip("::ffff:169.254.169.254"), parse_networks(["169.254.169.254/32"])) is None
    assert refusal_reason(ip("::ffff:169.254.169.254"), parse_networks(["::ffff:a9fe:a9fe/128"])) is None
