"""The alerts the dashboard has read from the `alerts` topic, per account, and who is listening.

Per account the latest `per_account` alerts are kept (newest last; a redelivered alert, same
`alert_id`, is kept once), plus the latest `recent` alerts of all accounts for the live feed.
`subscribe()` gives an asyncio queue that receives every new alert (the pages' server-sent
events). (Movement and days in band come from the daily history: streams/dashboard/movement.py.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

from scoring.timefmt import parse_iso_us
from streams.contracts.alert import Alert, MalformedAlertError

RISK_BANDS = frozenset({"red", "at_risk"})


def check_alert(raw: bytes | str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The alert as a dict (the contract's `to_dict`, plus `at_us`) if it parses as an `Alert`
    (streams/contracts/alert.py) with a readable time, else None."""
    if raw is None:
        return None
    try:
        alert = Alert.parse(raw)
    except MalformedAlertError:
        return None
    at = parse_iso_us(alert.at)
    if at is None:
        return None
    return {**alert.to_dict(), "at_us": at}


class AlertBook:
    def __init__(self, per_account: int = 20, recent: int = 200) -> None:
        self.per_account = per_account
        self.by_account: dict[str, deque[dict[str, Any]]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self.count = 0
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def add(self, alert: dict[str, Any]) -> bool:
        """Keep a checked alert; False if this account already has it (a redelivery)."""
        q = self.by_account.get(alert["account"])
        if q is None:
            q = self.by_account[alert["account"]] = deque(maxlen=self.per_account)
        elif any(a["alert_id"] == alert["alert_id"] for a in q):
            return False
        q.append(alert)
        self.recent.append(alert)
        self.count += 1
        for sub in list(self._subscribers):
            if sub.qsize() < 1000:  # a stalled browser does not hold memory
                sub.put_nowait(alert)
        return True

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    def of(self, account: str) -> list[dict[str, Any]]:
        """The account's alerts, newest first."""
        return list(reversed(self.by_account.get(account, ())))
