"""The worker under `PULSE_WORKER_PROCESSING_GUARANTEE=exactly_once` on the real broker: killed with
SIGKILL three times mid-stream, a `read_committed` consumer of `alerts` (and of the DLQ) sees every
alert of `pulse replay` exactly once, in order per account, and the final scores equal replay's."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from scoring.calls import Rejected
from scoring.engine import Resolver
from scoring.events import parse_message
from scoring.model import load_model
from streams.kafka import OffsetReader, group_lag, records_left
from streams.topics import TopicNames
from tests.integration.stream_harness import core_run, expected_alerts, per_account

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEYS = ("from", "to", "at", "score")


async def end_offset(bootstrap: str, topic: str) -> int:
    async with OffsetReader(bootstrap) as reader:
        return sum((await reader.end_offsets([topic])).values())


def expected_dead_letters(path: Path, now_us: int) -> Counter[tuple[int, str]]:
    resolver, out = Resolver(), Counter[tuple[int, str]]()
    for offset, line in enumerate(x for x in path.read_bytes().splitlines() if x.strip()):
        for item in parse_message(line.strip(), now_us=now_us, max_future_skew_us=300_000_000):
            routed = item if isinstance(item, Rejected) else resolver.route(item)
            if isinstance(routed, Rejected):
                out[(offset, routed.reason)] += 1
    return out


def kill_three_times(p) -> int:
    """SIGKILL the worker whenever it committed progress since the last kill, three times (or
    until it caught up); restart it at once each time. Returns the kills that landed mid-stream."""
    names = TopicNames.from_settings(p.settings)
    group, topics = names.worker_app, [names.events, names.scored]
    kills, progress = 0, 0
    deadline = time.monotonic() + 600
    while kills < 3 and time.monotonic() < deadline:
        assert p.proc.poll() is None, f"the worker exited by itself:\n{p.log_tail()}"
        lags = asyncio.run(group_lag(p.bootstrap, group, topics))
        done = sum(x.committed or 0 for x in lags)
        left = sum(x.end - (x.committed or 0) for x in lags)
        if done > 0 and (left == 0 or (left <= 10 and asyncio.run(records_left(p.bootstrap, lags)) == 0)):
            break  # caught up (only transaction markers left)
        if done > progress:
            p.kill()
            kills += 1
            progress = done
            p.start()
        time.sleep(0.1)
    return kills


def test_exactly_once_kill_9_three_times_no_duplicate_for_a_read_committed_consumer(pipeline, tmp_path: Path) -> None:
    from streams.dev.telemetry import Config, write

    events = tmp_path / "events.jsonl"
    write(Config(events=20000, accounts=200, days=60, seed=11), events)
    model = load_model(None)
    p = pipeline(guarantee="exactly_once")
    p.produce(events)  # all in before the worker starts: it is killed three times while catching up
    p.start()
    kills = kill_three_times(p)
    assert kills >= 2, f"only {kills} kills landed mid-stream"
    p.wait_caught_up(timeout=600)

    scores, changes, _ = core_run(events, model)
    want = expected_alerts(changes)
    committed = p.alerts(isolation_level="read_committed")
    repeats = [i for i, n in Counter(a["alert_id"] for a in committed).items() if n > 1]
    assert not repeats, f"{len(repeats)} alert ids seen twice by a read_committed consumer, e.g. {repeats[:3]}"
    assert {a["alert_id"] for a in committed} == {a["alert_id"] for a in want}  # none lost, none invented
    assert per_account(committed, KEYS) == per_account(want, KEYS)  # no dedup needed to get the order
    # the alerts really went through transactions: commit markers take offsets of their own
    uncommitted = p.alerts(isolation_level="read_uncommitted")
    assert asyncio.run(end_offset(p.bootstrap, p.names.alerts)) > len(uncommitted) >= len(committed)
    # every dead letter once: what the parser and the resolver reject, line by line (offset = line)
    letters = Counter((d["offset"], d["reason"]) for d in p.dead_letters(isolation_level="read_committed"))
    assert letters == expected_dead_letters(events, time.time_ns() // 1000)
    mine = {r["account"]: r for r in p.export(model)}
    assert set(mine) == {r["account"] for r in scores}
    for r in scores:
        assert mine[r["account"]]["band"] == r["band"]
        assert abs(mine[r["account"]]["score"] - r["score"]) <= 1e-6
    print(f"exactly_once: {kills} kills, {len(committed)} alerts read_committed, "
          f"{len(uncommitted) - len(committed)} more read_uncommitted (aborted)")
