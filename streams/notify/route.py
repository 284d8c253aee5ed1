"""The routing decision, pure: which (route, channel) pairs one alert goes to.

Routes are tried in order; a route matches when every condition it lists holds (a condition it
does not list matches anything). The first match wins unless it says `continue = true`, as in
Alertmanager. A channel reached by two routes gets the alert once, through the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from scoring.bands import BAND_NAMES
from scoring.errors import MalformedAlertError
from streams.notify.config import RouteConfig

REQUIRED_STR = ("alert_id", "kind", "account", "to", "direction", "reason")


@dataclass(frozen=True, slots=True)
class Target:
    route: str
    channel: str
    cooldown_seconds: float


def parse_alert(raw: bytes | str) -> dict[str, Any]:
    """Decode one alert and check the fields routing relies on; raise `MalformedAlertError`."""
    try:
        alert = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedAlertError(f"not JSON: {exc}") from None
    if not isinstance(alert, dict):
        raise MalformedAlertError(f"not a JSON object but {type(alert).__name__}")
    for key in REQUIRED_STR:
        if not isinstance(alert.get(key), str) or not alert[key]:
            raise MalformedAlertError(f"field {key!r} missing or not a non-empty string")
    if alert["to"] not in BAND_NAMES:
        raise MalformedAlertError(f"field 'to' is {alert['to']!r}, not one of {', '.join(BAND_NAMES)}")
    if alert.get("from") is not None and alert["from"] not in BAND_NAMES:
        raise MalformedAlertError(f"field 'from' is {alert['from']!r}, not a band or null")
    if not isinstance(alert.setdefault("traits", {}), dict):
        raise MalformedAlertError("field 'traits' is not an object")
    return alert


def matches(route: RouteConfig, alert: Mapping[str, Any]) -> bool:
    if route.kind is not None and alert.get("kind") not in route.kind:
        return False
    if route.to is not None and alert.get("to") not in route.to:
        return False
    if route.from_ is not None and alert.get("from") not in route.from_:
        return False
    if route.direction is not None and alert.get("direction") not in route.direction:
        return False
    if route.reason is not None and alert.get("reason") not in route.reason:
        return False
    if route.alert_route is not None and alert.get("route") not in route.alert_route:
        return False
    if route.traits:
        traits = alert.get("traits") or {}
        for name, allowed in route.traits.items():
            if name not in traits or traits[name] not in allowed:
                return False
    return True


def route_alert(alert: Mapping[str, Any], routes: Sequence[RouteConfig],
                default_cooldown_seconds: float) -> list[Target]:
    """The deliveries for one alert, in route order, one per channel at most."""
    out: list[Target] = []
    seen: set[str] = set()
    for r in routes:
        if not matches(r, alert):
            continue
        cooldown = default_cooldown_seconds if r.cooldown_seconds is None else r.cooldown_seconds
        for c in r.channels:
            if c not in seen:
                seen.add(c)
                out.append(Target(r.name, c, cooldown))
        if not r.continue_:
            break
    return out


def band_rank(band: str) -> int:
    """at_risk 0 < red 1 < yellow 2 < green 3 < thriving 4; lower is worse."""
    return BAND_NAMES.index(band)
