"""The dashboard's read model on a real 2-partition worker: every account's snapshot equals
`pulse scores export` (score, band, health score and band), and the daily history survives a
restart through its compacted topic.

A first dashboard (in-process: the same `build` + `Follower` as `pulse dashboard`) loads a real
worker's changelog; a point 80 days old, which no changelog record or trend ring holds, is put in
one account's history and published. A second dashboard with a fresh read model, started on the
same topics, has that point after loading, and so has its account API. The same way, the events
that lifted one account's score 7 days before its clock are put in its contributions and
published; the second dashboard compares the account's state with them as it loads ("events
lost since 7 days ago").
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.model import load_model
from scoring.trend import DAY_US
from streams.dashboard.run import build
from streams.kafka import ensure_topics_async
from streams.offline.export import export_scores
from streams.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[1] / "data" / "report"
MODEL = DATA / "model_health.toml"


def test_history_is_published_and_reloaded_after_a_restart(pipeline: Any) -> None:
    p = pipeline(model_path=MODEL, partitions=2)
    p.start()
    p.produce(DATA / "events.jsonl")
    p.wait_caught_up()
    model = load_model(MODEL)
    s = p.settings
    scores_out, health_out = p.tmp / "scores.jsonl", p.tmp / "health.jsonl"
    asyncio.run(export_scores(s, model, s.sweep_seconds, scores_out, health_out))
    exported = {d["account"]: d for d in map(orjson.loads, scores_out.read_bytes().splitlines())}
    health = {d["account"]: d for d in map(orjson.loads, health_out.read_bytes().splitlines())}
    assert len(exported) >= 9

    async def first() -> tuple[int, int]:
        await ensure_topics_async(s.bootstrap, [TopicNames.from_settings(s).dashboard_history], 1,
                                  {"cleanup.policy": "compact"})
        dash = build(s, model)
        await dash.follower.start()
        try:
            rm = dash.follower.rm
            assert rm.scored == len(exported)
            for account, row in exported.items():
                snap = rm.get(account)
                assert snap is not None, account
                assert (snap.engagement.score, snap.engagement.band) == (row["score"], row["band"]), account
                h = snap.health
                assert h is not None and (h.score, h.band) == (health[account]["health"],
                                                               health[account]["band"]), account
            i = rm.index["acme"]
            old = rm.clock[i] // DAY_US - 80
            assert all(day != old for day, _, _ in rm.history.series(i))
            assert rm.history.record(i, old, 12.3, 45.6)
            rm.contrib.record(i, rm.clock[i] // DAY_US - 7, [("Integration Connected", 6), ("Report Exported", 3)])
            rm.dirty.add(i)
            published = await dash.follower.publish_history()
            return old, published
        finally:
            await dash.follower.stop()

    old, published = asyncio.run(first())
    assert published >= 1

    async def second() -> tuple[list[tuple[int, float | None, float | None]], dict[str, Any] | None]:
        dash = build(s, model)
        await dash.follower.start()
        try:
            rm = dash.follower.rm
            assert rm.events_lost(rm.index["acme"]) == [  # acme now: Integration Connected x4, no export
                {"event": "Integration Connected", "points_then": 150.0, "points_now": 100.0},  # 25 x 6, 25 x 4
                {"event": "Report Exported", "points_then": 15.0, "points_now": 0.0}]  # 5 x 3, none
            return rm.history.series(rm.index["acme"]), dash.views.account("acme")
        finally:
            await dash.follower.stop()

    series, api = asyncio.run(second())
    assert (old, 12.3, 45.6) in series
    assert api is not None
    assert {"day": _day(old), "engagement": 12.3, "health": 45.6} in api["history"]
    assert len(series) >= 2  # the older point and the points the changelog gives
    assert [x["event"] for x in api["events_lost"]] == ["Integration Connected", "Report Exported"]


def _day(day: int) -> str:
    from scoring.timefmt import format_us

    return format_us(day * DAY_US)[:10]
