"""The notifier TOML file: `[notifier]` settings, `[channels.<name>]`, `[[routes]]`.

Validated by pydantic (strict, frozen, unknown keys rejected); every error names the file, the
key and why, as a `scoring.errors.ConfigError`. Without `[[routes]]` the defaults follow the
band table of docs/semantics.md#bands (see `DEFAULT_ROUTES`; docs/operations.md#notifier-configuration):

    into at_risk or red (down)   -> channel "csm" at once
    into yellow (up or down)     -> channel "guidance" (automated guidance webhook / e-mail)
    into thriving (up)           -> channel "expansion" (expansion-opportunity flag)
    into green                   -> nothing
    a signal (NPS, billing, contraction, onboarding, sharp drop) -> "csm", "expansion" (NPS
                                    promoter: referral ask) or "guidance" (onboarding stalled)

A default route whose channel is not configured is left out (and logged); an explicit route
that names an unknown channel is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from scoring.signals import ROUTE_NAMES, ROUTES, SIGNALS
from scoring.tomlconfig import parse_toml, read_text
from streams.contracts.alert import Band, Direction, Kind, Reason
from streams.notify.channels import ChannelConfig
from streams.notify.keys import DEFAULT_PREFIX

log = logging.getLogger("pulse.notifier")
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)

TraitValue = str | int | float | bool
T = TypeVar("T")
# TOML arrays arrive as lists and enum values as strings; strict mode alone would accept only
# tuples of enum members. The enums are the alert contract's (streams/contracts/alert.py).
Many = Annotated[tuple[str, ...], Field(strict=False, min_length=1)]
OneOrMore = Annotated[tuple[Annotated[T, Strict(False)], ...], Field(strict=False, min_length=1)]


class NotifierSettings(BaseModel):
    """`[notifier]`: the delivery pipeline's knobs. Seconds are wall-clock seconds."""

    model_config = _STRICT

    redis_prefix: str = DEFAULT_PREFIX
    max_attempts: int = Field(default=6, ge=1, le=100)      # N: sends before the dead-letter stream
    backoff_base_seconds: float = Field(default=1.0, gt=0)  # first retry after ~base, then x2 each
    backoff_cap_seconds: float = Field(default=300.0, gt=0)
    retry_after_max_seconds: float = Field(default=3600.0, gt=0)  # clamp on a receiver's Retry-After
    send_timeout_seconds: float = Field(default=30.0, gt=0)       # a whole send, on top of the channel's
    claim_idle_seconds: float = Field(default=60.0, gt=0)         # XAUTOCLAIM pending entries idle this long
    concurrency: int = Field(default=16, ge=1, le=1024)           # sends in flight per channel
    default_cooldown_seconds: float = Field(default=3600.0, ge=0)
    dedup_ttl_seconds: int = Field(default=7 * 86400, ge=60)      # how long delivered/hand-off marks live
    poll_seconds: float = Field(default=0.2, gt=0, le=5)          # XREADGROUP block / retry-scheduler tick

    @model_validator(mode="after")
    def _claim_after_timeout(self) -> NotifierSettings:
        if self.claim_idle_seconds <= self.send_timeout_seconds:
            raise ValueError(f"claim_idle_seconds ({self.claim_idle_seconds:g}) must be larger than "
                             f"send_timeout_seconds ({self.send_timeout_seconds:g}): an entry still "
                             "being sent would be claimed and sent twice")
        if self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_cap_seconds must be >= backoff_base_seconds")
        return self


class RouteConfig(BaseModel):
    """`[[routes]]`: match on the alert; every listed condition must hold (an absent one matches all).

    Routes are tried in order; the first match delivers to its channels and stops, unless it says
    `continue = true` (as in Alertmanager). `traits`: each named trait must equal one of the values;
    `alert_route`: the alert's `route` field (its default route name) is one of these.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    channels: Many
    kind: OneOrMore[Kind] | None = None
    to: OneOrMore[Band] | None = None
    from_: OneOrMore[Band] | None = Field(default=None, alias="from")
    direction: OneOrMore[Direction] | None = None
    reason: OneOrMore[Reason] | None = None
    # the alert's own `route` field: the default route of its reason/band (scoring.signals.ROUTE_NAMES)
    alert_route: Many | None = None
    traits: dict[str, Annotated[tuple[TraitValue, ...], Field(strict=False, min_length=1)]] | None = None
    cooldown_seconds: float | None = Field(default=None, ge=0)  # None: [notifier] default
    continue_: bool = Field(default=False, alias="continue")

    @field_validator("alert_route")
    @classmethod
    def _known_alert_routes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = [r for r in v or () if r not in ROUTE_NAMES]
        if unknown:
            known = ", ".join(sorted(ROUTE_NAMES))
            raise ValueError(f"{unknown[0]!r} is not an alert route (one of {known})")
        return v


# Signal alerts (scoring.signals: from == to, direction "none", or "down" for a sharp drop) come
# first, one route per signal so one signal's cooldown never holds back another; their channel is
# the one the signal's suggested action (its default route, `scoring.signals.ROUTES`) belongs to: a
# CSM call/review/billing follow-up -> "csm", a referral ask -> "expansion", onboarding guidance
# -> "guidance".
CHANNEL_OF_ALERT_ROUTE: dict[str, str] = {
    "csm_call": "csm", "csm_immediate": "csm", "csm_review": "csm", "billing": "csm",
    "referral_ask": "expansion", "guidance": "guidance",
}
DEFAULT_ROUTES: tuple[RouteConfig, ...] = (
    *(RouteConfig(name=f"signal-{reason}", reason=(reason,),
                  channels=(CHANNEL_OF_ALERT_ROUTE[ROUTES[reason][0]],)) for reason in SIGNALS),
    RouteConfig(name="csm-at-risk-red", to=(Band.AT_RISK, Band.RED), direction=(Direction.DOWN,),
                channels=("csm",)),
    RouteConfig(name="guidance-yellow", to=(Band.YELLOW,), direction=(Direction.UP, Direction.DOWN),
                channels=("guidance",)),
    RouteConfig(name="expansion-thriving", to=(Band.THRIVING,), direction=(Direction.UP,),
                channels=("expansion",)),
)


class NotifierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    notifier: NotifierSettings = NotifierSettings()
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: Annotated[tuple[RouteConfig, ...], Field(strict=False)] | None = None

    @model_validator(mode="after")
    def _known_channels(self) -> NotifierConfig:
        for i, r in enumerate(self.routes or ()):
            for c in r.channels:
                if c not in self.channels:
                    raise ValueError(f"routes[{i}] ({r.name!r}) names channel {c!r}, which is not "
                                     f"defined in [channels] (defined: {sorted(self.channels) or 'none'})")
        names = [r.name for r in self.routes or ()]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"route names must be unique, repeated: {sorted(dup)}")
        return self

    def effective_routes(self) -> tuple[RouteConfig, ...]:
        """The explicit routes, or the band-table defaults restricted to configured channels."""
        if self.routes is not None:
            return self.routes
        out = []
        for r in DEFAULT_ROUTES:
            chans = tuple(c for c in r.channels if c in self.channels)
            if chans:
                out.append(r.model_copy(update={"channels": chans}))
            else:
                log.info("default route %s: no channel named %s configured; those alerts are not delivered",
                         r.name, " or ".join(repr(c) for c in r.channels))
        return tuple(out)


def parse_config(text: str, *, source: str = "<notifier config>") -> NotifierConfig:
    return parse_toml(text, NotifierConfig, source=source)


def load_config(path: str | Path) -> NotifierConfig:
    return parse_config(read_text(path, "notifier config"), source=str(Path(path)))
