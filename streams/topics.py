"""Topic names and their creation. Every name is under the configured prefix (`pulse.` by default).

    events        raw Segment JSON from telemetry, keyed by userId / anonymousId
    events-dlq    dead letters: original bytes, reason, source topic/partition/offset
    scored        internal: scored events (and account traits) keyed by account
    alerts        band changes, keyed by account
    dashboard-history  compacted: each account's daily score history, published by `pulse dashboard`
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.kafka import ensure_topics
from streams.settings import Settings


@dataclass(frozen=True)
class TopicNames:
    events: str
    dlq: str
    scored: str
    alerts: str
    dashboard_history: str

    @classmethod
    def from_settings(cls, s: Settings) -> TopicNames:
        return cls(s.topic("events"), s.topic("events-dlq"), s.topic("scored"), s.topic("alerts"),
                   s.topic("dashboard-history"))

    def all(self) -> list[str]:
        return [self.events, self.dlq, self.scored, self.alerts]


def create_topics(s: Settings, partitions: int) -> list[str]:
    """Create the pipeline's topics that do not exist yet (broker auto-create is off)."""
    return ensure_topics(s.bootstrap, TopicNames.from_settings(s).all(), partitions)
