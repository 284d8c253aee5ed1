"""Every case of the hostile corpus through `parse_message` and the account resolver: no
exception, the outcome written in the corpus, and everything the worker then serializes (the
scored record, the dead letter) serializes."""

from __future__ import annotations

import orjson
import pytest

from scoring.calls import Rejected, ScoredEvent
from scoring.engine import Resolver
from scoring.events import parse_message
from streams.worker.records import dead_letter
from tests.hostile import CORPUS, NOW_US, SKEW_US, load, matches, outcomes

CASES = load()


def test_the_corpus_is_big_and_named_uniquely() -> None:
    names = [c.name for c in CASES]
    assert len(names) >= 200
    assert len(set(names)) == len(names)
    groups = {n.split("/")[0] for n in names}
    assert {"encoding", "nul", "numbers", "timestamp", "ids", "types", "nesting", "size", "batch",
            "dupkeys"} <= groups


def test_the_corpus_file_is_what_its_builder_writes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_cases", CORPUS.parent / "build_cases.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.HERE = tmp_path
    mod.main()
    assert (tmp_path / "cases.jsonl").read_bytes() == CORPUS.read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_outcome(case) -> None:  # type: ignore[no-untyped-def]
    got = outcomes(case.raw)
    assert matches(case.expect, got), f"{case.name}: expected {case.expect[:5]}, got {got[:5]}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_what_the_worker_writes_serializes(case) -> None:  # type: ignore[no-untyped-def]
    """The resolve agent writes each scored event as JSON and each rejection as a dead letter."""
    resolver = Resolver()
    for item in parse_message(case.raw, now_us=NOW_US, max_future_skew_us=SKEW_US):
        routed = item if isinstance(item, Rejected) else resolver.route(item)
        if isinstance(routed, Rejected):
            letter = orjson.loads(dead_letter(reason=routed.reason, detail=routed.detail, raw=case.raw,
                                              topic="events", partition=0, offset=7, key=None,
                                              now_iso="2026-11-30T00:00:00Z"))
            assert letter["reason"] == routed.reason and letter["offset"] == 7
        elif isinstance(routed, ScoredEvent):
            again = ScoredEvent.from_json(orjson.dumps([routed.to_dict()])[1:-1])
            assert (again.account, again.name, again.ts_us) == (routed.account, routed.name, routed.ts_us)
