"""Session fixtures: a real Kafka broker and a real Redis.

Resolution order for each service:
1. `KAFKA_BOOTSTRAP` / `REDIS_URL` set: use those servers;
2. a Docker engine answers: testcontainers (apache/kafka, redis);
3. otherwise the project's local stack (`deploy/local`, as `pulse stack up`), started if needed and
   left running (CI's `.ci/run` stops it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from streams.dev import stack
from streams.kafka import ensure_topics, kafka_cluster_id
from streams.settings import Settings

_BROKERS: dict[str, str] = {}  # bootstrap -> cluster id, for the summary line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for bootstrap, cluster_id in _BROKERS.items():
        terminalreporter.write_line(f"real Kafka broker at {bootstrap} answered: cluster id {cluster_id}")


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_settings: Settings) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    elif _docker_engine():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kc:
            bootstrap = kc.get_bootstrap_server()
            print(f"\nkafka (testcontainers) at {bootstrap}, cluster id {kafka_cluster_id(bootstrap)}")
            yield bootstrap
            return
    else:
        stack.start_kafka(stack_settings, stack.paths_for(stack_settings))
        bootstrap = stack_settings.bootstrap
    cluster_id = stack.wait_kafka(bootstrap, timeout=120)
    _BROKERS[bootstrap] = cluster_id
    print(f"\nkafka at {bootstrap}: a real broker answered, cluster id {cluster_id}")
    yield bootstrap


@pytest.fixture(scope="session")
def redis_url(stack_settings: Settings) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        url = os.environ["REDIS_URL"]
    elif _docker_engine():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7") as rc:
            url = f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"
            yield url
            return
    else:
        stack.start_redis(stack_settings, stack.paths_for(stack_settings))
        url = stack_settings.redis
    stack.wait_redis(url)
    yield url


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """`unique_name("events")` -> a name no other test uses."""
    return lambda base: f"test.{base}.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unique_topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> Callable[..., str]:
    """Create a uniquely named topic: `unique_topic("events", partitions=4)`."""

    def make(base: str = "topic", partitions: int = 1) -> str:
        name = unique_name(base)
        ensure_topics(kafka_bootstrap, [name], partitions)
        return name

    return make


@pytest.fixture
def redis_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"test:{uuid.uuid4().hex[:10]}:"
