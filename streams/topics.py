"""Every Kafka name Pulse uses, under the configured prefix (`pulse.` by default).

Topics:
    events        raw Segment JSON from telemetry, keyed by userId / anonymousId
    events-dlq    dead letters: original bytes, reason, source topic/partition/offset
    scored        internal: scored events (and account traits) keyed by account
    alerts        band changes, keyed by account
    dashboard-history  compacted: each account's daily score history, published by `pulse dashboard`

Consumer groups (a Faust app id is its consumer group):
    worker        the streaming worker (`pulse worker`); its tables' changelog topics are
                  `<app id>-<table>-changelog` (Faust's naming; a unit test holds Faust to it)
    notifier      the notifier's router (`pulse notifier`)
    floor         the Faust floor of `pulse bench stream` (streams/dev/faust_floor.py)
    quix          the Quix Streams job of `pulse bench stream` (streams/dev/quix_job.py), with its
                  topics quix-scored, quix-alerts and quix-dlq
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.kafka import ensure_topics, kafka_auth
from streams.settings import Settings

USER_ACCOUNTS_TABLE = "user-accounts"  # user -> account, from `group` calls (resolve agent)
ACCOUNT_STATE_TABLE = "account-state"  # each partition's scoring state (score agent)
WORKER_TABLES = (USER_ACCOUNTS_TABLE, ACCOUNT_STATE_TABLE)


@dataclass(frozen=True)
class TopicNames:
    prefix: str

    @classmethod
    def from_settings(cls, s: Settings) -> TopicNames:
        return cls(s.topic_prefix)

    # -- topics ------------------------------------------------------------------------------
    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}events-dlq"

    @property
    def scored(self) -> str:
        return f"{self.prefix}scored"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def dashboard_history(self) -> str:
        """Compacted: each account's daily score history, published by `pulse dashboard`."""
        return f"{self.prefix}dashboard-history"

    def all(self) -> list[str]:
        """The pipeline's topics (the worker creates them before it starts)."""
        return [self.events, self.dlq, self.scored, self.alerts]

    def public(self) -> list[str]:
        """The topics other programs produce to or read (`pulse stack up` creates them)."""
        return [self.events, self.dlq, self.alerts]

    # -- consumer groups / app ids -----------------------------------------------------------
    @property
    def worker_app(self) -> str:
        """The worker's Faust app id, which is also its consumer group and RocksDB folder."""
        return f"{self.prefix}worker"

    def changelog(self, table: str) -> str:
        """The changelog topic of one of the worker's tables (Faust: `<app id>-<table>-changelog`)."""
        if table not in WORKER_TABLES:
            raise ValueError(f"not a worker table: {table!r} (one of {', '.join(WORKER_TABLES)})")
        return f"{self.worker_app}-{table}-changelog"

    @property
    def account_state_changelog(self) -> str:
        return self.changelog(ACCOUNT_STATE_TABLE)

    @property
    def notifier_group(self) -> str:
        return f"{self.prefix}notifier"

    @property
    def floor_app(self) -> str:
        return f"{self.prefix}floor"

    # -- the Quix Streams job of `pulse bench stream` ----------------------------------------
    @property
    def quix_group(self) -> str:
        return f"{self.prefix}quix"

    @property
    def quix_scored(self) -> str:
        return f"{self.prefix}quix-scored"

    @property
    def quix_alerts(self) -> str:
        return f"{self.prefix}quix-alerts"

    @property
    def quix_dlq(self) -> str:
        return f"{self.prefix}quix-dlq"


def create_topics(s: Settings, partitions: int) -> list[str]:
    """Create the pipeline's topics that do not exist yet (broker auto-create is off)."""
    return ensure_topics(s.bootstrap, TopicNames.from_settings(s).all(), partitions, auth=kafka_auth(s))
