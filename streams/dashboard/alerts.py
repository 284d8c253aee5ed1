"""The alerts the dashboard has read from the `alerts` topic, per account, and who is listening.

Per account the latest `per_account` alerts are kept (newest last; a redelivered alert, same
`alert_id`, is kept once), plus the latest `recent` alerts of all accounts for the live feed.
`subscribe()` gives an asyncio queue that receives every new alert (the pages' server-sent
events). Band movement over a week is read from the band-change alerts: an account whose first
band change of the week left a band outside red/at_risk and whose band is now red/at_risk moved
in, and the other way round moved out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from scoring.timefmt import parse_iso_us
from scoring.trend import DAY_US
from streams.contracts.alert import Alert, MalformedAlertError

RISK_BANDS = frozenset({"red", "at_risk"})
BAND_CHANGE_REASONS = frozenset({"band_change", "sweep"})


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

    def last_band_change(self, account: str, kind: str) -> int | None:
        """When the account last changed band in `kind` (µs), if an alert says so."""
        for a in reversed(self.by_account.get(account, ())):
            if a["kind"] == kind and a.get("reason") in BAND_CHANGE_REASONS and a.get("from") != a["to"]:
                return int(a["at_us"])
        return None

    def movement(self, kind: str, now_us: int, band_now: Callable[[str], str | None],
                 days: int = 7) -> dict[str, Any]:
        """Accounts that moved into / out of red or at_risk in the `days` before `now_us`."""
        since = now_us - days * DAY_US
        into, out = [], []
        for account, q in self.by_account.items():
            first = next((a for a in q if a["kind"] == kind and a["at_us"] > since
                          and a.get("reason") in BAND_CHANGE_REASONS and a.get("from") is not None), None)
            if first is None:
                continue
            was, now = first["from"] in RISK_BANDS, band_now(account) in RISK_BANDS
            if now and not was:
                into.append(account)
            elif was and not now:
                out.append(account)
        return {"into_risk": len(into), "out_of_risk": len(out), "days": days,
                "into_accounts": sorted(into)[:50], "out_accounts": sorted(out)[:50]}
