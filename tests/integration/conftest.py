"""Fixtures shared by the integration tests (the session's Kafka/Redis fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration.stream_harness import Pipeline


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """`pipeline(partitions=4, model_path=...)` -> an isolated real worker pipeline, stopped after the test."""
    created: list[Pipeline] = []

    def make(**kw: Any) -> Pipeline:
        p = Pipeline(kafka_bootstrap, tmp_path, **kw)
        created.append(p)
        return p

    yield make
    for p in created:
        p.stop()


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """An asyncio Redis client; every key under the test's `redis_prefix` is deleted after the test."""
    r = Redis.from_url(redis_url, decode_responses=True)
    yield r
    keys = [k async for k in r.scan_iter(f"{redis_prefix}*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()
