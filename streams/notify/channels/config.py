"""The `[channels.<name>]` tables of a notifier TOML file, one pydantic model per channel type.

Every model is strict, frozen and refuses unknown keys, so a typo in the TOML file is an error at
start-up, never a silently ignored option. Secrets (`secret`, `webhook_url`, `password`) are
`SecretStr` (never printed in a repr or a log line) or read from an environment variable named by
the matching `*_env` key; exactly one of the two is required. Environment variables are read when
the channel is built (`build_channel`), so a missing variable fails start-up, not the first alert.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from scoring.errors import ConfigError
from streams.settings import env_secret

# TOML arrays arrive as lists; strict mode would accept only tuples, so tuples are lax here.
StrTuple = Annotated[tuple[str, ...], Field(strict=False)]


class _Strict(BaseModel):
    # hide_input_in_errors: a ValidationError must never echo a secret back into a log line.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)


def _check_http_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{what} must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 -- raises on a port out of range
    except ValueError:
        raise ValueError(f"{what} has an invalid port") from None
    return url


def _check_networks(nets: tuple[str, ...]) -> tuple[str, ...]:
    for net in nets:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as e:
            raise ValueError(f"allow_networks: {net!r} is not an IP address or CIDR network ({e})") from e
    return nets


def _from_env(channel: str, key: str, var: str) -> str:
    value = env_secret(var)
    if value is None:
        raise ConfigError(f"channel {channel!r}: {key} = {var!r} names an environment variable "
                          f"that is not set or empty")
    return value.get_secret_value()


def _one_of(secret: SecretStr | None, env: str | None, key: str) -> None:
    if (secret is None) == (env is None):
        raise ValueError(f"set exactly one of {key!r} and '{key}_env'")


class _HttpOptions(_Strict):
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(10.0, gt=0, le=300)
    max_response_bytes: int = Field(65536, ge=0, le=16 * 1024 * 1024)
    # CIDRs the SSRF guard lets through even though they are loopback/private/link-local.
    allow_networks: StrTuple = ()
    # A PEM file of CA certificates to trust instead of the public bundle (a private CA).
    ca_file: str | None = None

    _nets = field_validator("allow_networks")(_check_networks)


class WebhookConfig(_HttpOptions):
    """A generic HTTPS endpoint receiving signed JSON (Standard Webhooks)."""

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None      # "whsec_" + base64 of the key bytes
    secret_env: str | None = None

    _url = field_validator("url")(lambda v: _check_http_url(v, "url"))

    @model_validator(mode="after")
    def _secret_given(self) -> WebhookConfig:
        _one_of(self.secret, self.secret_env, "secret")
        if self.secret is not None:
            signing_key(self.secret.get_secret_value(), "secret")
        return self

    def resolve_secret(self, channel: str) -> bytes:
        """The HMAC key bytes (the base64 part of `whsec_...` decoded)."""
        if self.secret is not None:
            return signing_key(self.secret.get_secret_value(), "secret")
        assert self.secret_env is not None
        value = _from_env(channel, "secret_env", self.secret_env)
        try:
            return signing_key(value, f"the secret in ${self.secret_env}")
        except ValueError as e:
            raise ConfigError(f"channel {channel!r}: {e}") from None


def signing_key(secret: str, what: str) -> bytes:
    """Decode a Standard Webhooks secret `whsec_<base64>` into HMAC key bytes."""
    if not secret.startswith("whsec_"):
        raise ValueError(f"{what} must look like 'whsec_<base64>' (Standard Webhooks secret)")
    raw = secret[len("whsec_"):]
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"{what}: the part after 'whsec_' is not valid base64") from None
    if len(key) < 16:
        raise ValueError(f"{what}: the key is {len(key)} bytes; use at least 16 (24-64 recommended)")
    return key


class SlackConfig(_HttpOptions):
    """A Slack incoming webhook (the URL is the credential)."""

    type: Literal["slack"]
    webhook_url: SecretStr | None = None
    webhook_url_env: str | None = None
    # e.g. "https://app.example.com/accounts/{account}"; "{account}" is URL-quoted.
    account_url: str | None = None

    _account_url = field_validator("account_url")(
        lambda v: None if v is None else _check_http_url(v, "account_url"))

    @model_validator(mode="after")
    def _url_given(self) -> SlackConfig:
        _one_of(self.webhook_url, self.webhook_url_env, "webhook_url")
        if self.webhook_url is not None:
            _check_http_url(self.webhook_url.get_secret_value(), "webhook_url")
        return self

    def resolve_url(self, channel: str) -> str:
        if self.webhook_url is not None:
            return self.webhook_url.get_secret_value()
        assert self.webhook_url_env is not None
        value = _from_env(channel, "webhook_url_env", self.webhook_url_env)
        try:
            return _check_http_url(value, f"the URL in ${self.webhook_url_env}")
        except ValueError as e:
            raise ConfigError(f"channel {channel!r}: {e}") from None


def _check_address(addr: str, key: str) -> str:
    if addr.count("@") != 1 or any(c in addr for c in "\r\n<>,; ") or addr.startswith("@") \
            or addr.endswith("@"):
        raise ValueError(f"{key}: {addr!r} is not a single plain e-mail address (user@domain)")
    return addr


class EmailConfig(_Strict):
    """E-mail over SMTP (text + HTML), one SMTP session per message."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True,
                              validate_by_name=True, validate_by_alias=True)
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, gt=0, lt=65536)
    from_: str = Field(alias="from", min_length=3)
    to: StrTuple = Field(min_length=1)
    starttls: bool = True     # require STARTTLS on a plain connection (port 587)
    tls: bool = False         # implicit TLS from the first byte (port 465); excludes starttls
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    timeout: float = Field(10.0, gt=0, le=300)
    subject_prefix: str = "[Pulse]"
    account_url: str | None = None

    _account_url = field_validator("account_url")(
        lambda v: None if v is None else _check_http_url(v, "account_url"))

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for addr in v:
            _check_address(addr, "to")
        return v

    @field_validator("from_")
    @classmethod
    def _sender(cls, v: str) -> str:
        return _check_address(v, "from")

    @model_validator(mode="after")
    def _auth(self) -> EmailConfig:
        if self.password is not None and self.password_env is not None:
            raise ValueError("set at most one of 'password' and 'password_env'")
        if (self.password is not None or self.password_env is not None) and not self.username:
            raise ValueError("a password needs a username")
        if self.tls and self.starttls:
            raise ValueError("'tls = true' (implicit TLS, port 465) excludes 'starttls'; "
                             "set starttls = false")
        return self

    def resolve_password(self, channel: str) -> str | None:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is not None:
            return _from_env(channel, "password_env", self.password_env)
        return None


ChannelConfig = Annotated[WebhookConfig | SlackConfig | EmailConfig, Field(discriminator="type")]
