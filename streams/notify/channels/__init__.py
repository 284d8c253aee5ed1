"""Delivery channels: Slack incoming webhook, generic signed webhook, e-mail over SMTP.

    ChannelConfig           the `[channels.<name>]` table: a pydantic union discriminated by `type`
    parse_channel_config    validate one table (a dict from tomllib) into a ChannelConfig
    build_channel           a ChannelConfig -> a `Channel` ready to `send`

Each channel sends once and raises a classified `DeliveryError` (see `scoring.errors`);
the pipeline retries. See README.md next to this file for the keys of each type.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, TypeAdapter

from streams.notify.channel import Channel
from streams.notify.channels.config import ChannelConfig, EmailConfig, SlackConfig, WebhookConfig

__all__ = ["ChannelConfig", "EmailConfig", "SlackConfig", "WebhookConfig", "build_channel",
           "parse_channel_config"]

_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(
    ChannelConfig, config=ConfigDict(hide_input_in_errors=True))


def parse_channel_config(table: dict[str, Any]) -> ChannelConfig:
    """Validate one `[channels.<name>]` table; raises `pydantic.ValidationError`."""
    return _ADAPTER.validate_python(table)


def build_channel(name: str, config: ChannelConfig) -> Channel:
    """The channel for one validated config. Reads `*_env` secrets now, so a missing environment
    variable raises `ConfigError` at start-up rather than at the first alert."""
    if isinstance(config, WebhookConfig):
        from streams.notify.channels.webhook import WebhookChannel

        return WebhookChannel(name, config)
    if isinstance(config, SlackConfig):
        from streams.notify.channels.slack import SlackChannel

        return SlackChannel(name, config)
    if isinstance(config, EmailConfig):
        from streams.notify.channels.email import EmailChannel

        return EmailChannel(name, config)
    raise TypeError(f"not a channel config: {type(config).__name__}")
