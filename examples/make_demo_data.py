"""Writes examples/demo.jsonl: six weeks of telemetry for four accounts (run: python examples/make_demo_data.py).

- acme     power user: logins, exports, invites every day -> green, then thriving
- globex   healthy for two weeks, then silent -> the daily sweep lets it decay into red
- initech  support tickets and a downgrade -> at_risk
- umbrella steady, moderate use (a login a day, an export a week) -> yellow
plus one malformed line and one retried (duplicate) event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
OUT = Path(__file__).with_name("demo.jsonl")


def ev(account: str, user: str, name: str, t: datetime, n: int) -> dict[str, object]:
    return {"type": "track", "event": name, "userId": user, "context": {"groupId": account},
            "messageId": f"{account}-{n}", "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")}


def main() -> None:
    lines: list[str] = []
    n = 0
    for acct, plan in (("acme", "enterprise"), ("globex", "team"), ("initech", "team"), ("umbrella", "free")):
        lines.append(json.dumps({"type": "group", "userId": f"{acct}-admin", "groupId": acct,
                                 "traits": {"plan": plan, "name": acct.title()},
                                 "timestamp": START.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    for day in range(42):
        t = START + timedelta(days=day)
        todays: list[tuple[str, str, str]] = [("acme", "acme-admin", "Login"), ("acme", "acme-u2", "Report Exported")]
        if day % 3 == 0:
            todays.append(("acme", "acme-admin", "Teammate Invited"))
        if day < 14:
            todays += [("globex", "globex-admin", "Report Exported"), ("globex", "globex-admin", "Login")]
        todays.append(("umbrella", "umbrella-admin", "Login"))
        if day % 7 == 0:
            todays.append(("umbrella", "umbrella-admin", "Report Exported"))
        if day < 10:
            todays.append(("initech", "initech-admin", "Login"))
        if day in (10, 12, 15, 18):
            todays.append(("initech", "initech-admin", "Support Ticket Opened"))
        if day == 20:
            todays.append(("initech", "initech-admin", "Subscription Downgraded"))
        for i, (acct, user, name) in enumerate(todays):
            n += 1
            lines.append(json.dumps(ev(acct, user, name, t + timedelta(minutes=7 * i), n)))
        if day == 5:
            lines.append(lines[-1])  # a client retry: same messageId, dropped as a duplicate
            lines.append('{"type": "track", "event": ')  # a truncated line: goes to the dead-letter topic
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
