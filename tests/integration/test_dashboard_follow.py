"""The dashboard following a real worker while it writes, on a tight CPU budget: once the worker
is quiet the backlog drains and every account's snapshot equals `pulse scores export`.

The dashboard (in-process: `build` + `Follower`, as `pulse dashboard`) is running before any
event is produced, so every snapshot comes from the follow path (backlog, budgeted derive loop),
none from the start-up load. Its share is 1 % of a core while the worker writes: what it cannot
derive meanwhile waits in the backlog and is derived after.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from scoring.model import load_model
from streams.dashboard.backlog import CpuBudget
from streams.dashboard.run import build
from streams.kafka import ensure_topics_async
from streams.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[1] / "data" / "report"
MODEL = DATA / "model_health.toml"


def test_a_budgeted_follower_catches_up_and_equals_the_export(pipeline: Any) -> None:
    p = pipeline(model_path=MODEL, partitions=2)
    p.start()
    model = load_model(MODEL)
    s = p.settings

    async def run() -> tuple[dict[str, tuple[float, str]], dict[str, Any], dict[str, Any]]:
        await ensure_topics_async(s.bootstrap, [TopicNames.from_settings(s).dashboard_history], 1,
                                  {"cleanup.policy": "compact"})
        dash = build(s, model)
        f = dash.follower
        f.budget, f.derive_seconds = CpuBudget(0.01), 0.5
        await f.start()
        try:
            assert f.rm.scored == 0  # nothing produced yet: all that follows is the follow path
            seen_behind: list[int] = []

            async def watch() -> None:  # what the status line shows meanwhile
                while True:
                    seen_behind.append(int(dash.status()["behind"]["accounts"]))
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch())
            await asyncio.to_thread(p.produce, DATA / "events.jsonl")
            await asyncio.to_thread(p.wait_caught_up)
            watcher.cancel()
            # every changed account waits derive_seconds (0.5 s) in the backlog: the status said so
            assert max(seen_behind) > 0
            deadline = time.monotonic() + 60
            while (f.behind()["accounts"] or f.behind()["unread"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            seen = f.behind()
            status = dash.status()
            rm = f.rm
            snaps = {rm.ids[i]: rm.snapshot(i) for i in range(len(rm)) if rm.band[i] >= 0}
            return {a: (x.engagement.score, x.engagement.band) for a, x in snaps.items()}, seen, status
        finally:
            await f.stop()

    snaps, behind, status = asyncio.run(run())
    exported = {r["account"]: (r["score"], r["band"]) for r in p.export(model)}
    assert len(exported) >= 9
    assert behind["accounts"] == 0 and behind["received"] >= len(exported)
    assert behind["unread"] == 0
    assert status["behind"]["accounts"] == 0 and status["updated_at"] is not None
    assert snaps == exported
