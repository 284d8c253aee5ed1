"""Every Redis key the notifiers use, in one place (like arq's `constants.py`).

All keys start with a configurable prefix (`[notifier] redis_prefix`, default `pulse:`), so
several pipelines (and the tests) share one Redis without seeing each other's state.

    <p>notify:stream:<channel>                Stream  deliveries for a channel (consumer group GROUP)
    <p>notify:retry:<channel>                 ZSET    deliveries in backoff (score = due, epoch s)
    <p>notify:dlq                             Stream  dead letters: attempts used up, permanent, bad alerts
    <p>notify:handoff:<channel>:<alert_id>    String  the router put this alert on this channel's stream
    <p>notify:delivered:<channel>:<alert_id>  String  the channel accepted this alert (dedup stage)
    <p>notify:cooldown:<route>:<account>      String  JSON cooldown record of (account, route)
    <p>notify:channels                        Set     every channel the router has handed an alert to
                                                      (so a reader such as the dashboard can look
                                                      up the two marks above directly, no SCAN)
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "notifier"            # the consumer group on every channel stream
DEFAULT_PREFIX = "pulse:"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def stream(self, channel: str) -> str:
        return f"{self.prefix}notify:stream:{channel}"

    def retry(self, channel: str) -> str:
        return f"{self.prefix}notify:retry:{channel}"

    def dlq(self) -> str:
        return f"{self.prefix}notify:dlq"

    def handoff(self, channel: str, alert_id: str) -> str:
        return f"{self.prefix}notify:handoff:{channel}:{alert_id}"

    def delivered(self, channel: str, alert_id: str) -> str:
        return f"{self.prefix}notify:delivered:{channel}:{alert_id}"

    def cooldown(self, route: str, account: str) -> str:
        return f"{self.prefix}notify:cooldown:{route}:{account}"

    def channels(self) -> str:
        return f"{self.prefix}notify:channels"
