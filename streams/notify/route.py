"""The routing decision, pure: which (route, channel) pairs one alert goes to.

Routes are tried in order; a route matches when every condition it lists holds (a condition it
does not list matches anything). The first match wins unless it says `continue = true`, as in
Alertmanager. A channel reached by two routes gets the alert once, through the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.contracts.alert import Alert
from streams.notify.config import RouteConfig


@dataclass(frozen=True, slots=True)
class Target:
    route: str
    channel: str
    cooldown_seconds: float


def matches(route: RouteConfig, alert: Alert) -> bool:
    if route.kind is not None and alert.kind not in route.kind:
        return False
    if route.to is not None and alert.to_band not in route.to:
        return False
    if route.from_ is not None and alert.from_band not in route.from_:
        return False
    if route.direction is not None and alert.direction not in route.direction:
        return False
    if route.reason is not None and alert.reason not in route.reason:
        return False
    if route.alert_route is not None and alert.route not in route.alert_route:
        return False
    if route.traits:
        traits = alert.traits
        for name, allowed in route.traits.items():
            if name not in traits or traits[name] not in allowed:
                return False
    return True


def route_alert(alert: Alert, routes: Sequence[RouteConfig],
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
