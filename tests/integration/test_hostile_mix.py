"""1% hostile input mixed into a generated stream (what `pulse bench stream --hostile-fraction 0.01`
measures), through the real worker on the real broker: the good events are scored exactly as
`pulse replay` of the good ones alone, and every hostile record is one dead letter with the reason
the corpus pins for it, its own bytes and its offset. Not timed."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from scoring.model import load_model
from streams.dev.corpus import load, mix, wholly_invalid
from streams.dev.produce import produce_records
from streams.dev.telemetry import Config, write
from tests.integration.stream_harness import core_run, expected_alerts
from tests.integration.test_stream_pipeline import assert_same

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_one_percent_hostile_input_good_events_equal_replay_and_each_hostile_record_is_a_dead_letter(
        pipeline, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(Config(events=12000, accounts=300, days=40, seed=23, bad_rate=0.0), events)
    lines = [x.strip() for x in events.read_bytes().splitlines() if x.strip()]
    mixed = mix(lines, 0.01, wholly_invalid(load()))
    assert len(mixed.records) == len(lines) and len(mixed.hostile) == len(lines) // 100
    assert len({c.name for c in mixed.hostile.values()}) >= 100  # many different cases, not one
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(mixed.good) + b"\n")

    p = pipeline()
    p.start()
    assert asyncio.run(produce_records(mixed.records, p.bootstrap, p.names.events)) == len(mixed.records)
    p.wait_caught_up(timeout=300)
    assert p.proc is not None and p.proc.poll() is None, p.log_tail()  # never crashed

    model = load_model(None)
    scores, changes, _ = core_run(good, model)  # replay of the good events alone
    assert_same(p.export(model), p.alerts(), scores, expected_alerts(changes))

    by_offset: dict[int, list[dict[str, object]]] = defaultdict(list)
    for d in p.dead_letters():
        by_offset[int(d["offset"])].append(d)  # type: ignore[call-overload]
    assert set(by_offset) == set(mixed.hostile)  # every hostile record, and nothing else
    for offset, case in mixed.hostile.items():
        got = by_offset[offset]
        assert Counter(str(d["reason"]) for d in got) == Counter(e.split(":", 1)[1] for e in case.expect), case.name
        for d in got:
            assert base64.b64decode(str(d["raw_b64"])) == case.raw and d["detail"], case.name
