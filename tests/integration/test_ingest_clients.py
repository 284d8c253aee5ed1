"""The official Segment clients, pointed at a real `pulse ingest` through their `host` option, send the
public example (examples/demo.jsonl); the worker then holds what `pulse replay` computes from it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from scoring.model import load_model
from streams.dev.segment_send import calls_in, send_file
from tests.integration.ingest_harness import KEYS, IngestProc, read_topic
from tests.integration.stream_harness import Pipeline, core_run, expected_alerts
from tests.integration.test_stream_pipeline import assert_same

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.jsonl"
NODE_SCRIPT = Path(__file__).parent / "js" / "send_node.cjs"
N_CALLS = len(calls_in(DEMO)[0])  # the example's one malformed line cannot be sent by a client


@pytest.fixture
def through_ingest(pipeline: Callable[..., Pipeline], tmp_path: Path) -> Iterator[tuple[Pipeline, IngestProc]]:
    """A worker pipeline (one partition, the default model) with a `pulse ingest` in front of it."""
    p = pipeline()
    p.start()
    ingest = IngestProc(p.bootstrap, tmp_path, prefix=p.prefix).start()
    ingest.wait("/ready")
    yield p, ingest
    ingest.stop()


def accepted(ingest: IngestProc) -> float:
    for line in httpx.get(ingest.base + "/metrics").text.splitlines():
        if line.startswith('pulse_ingest_events_total{outcome="accepted"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no pulse_ingest_events_total in /metrics")


def check_scored_like_replay(p: Pipeline, ingest: IngestProc) -> None:
    assert accepted(ingest) == N_CALLS
    assert read_topic(p.bootstrap, ingest.dlq_topic) == []
    records = [orjson.loads(r.value) for r in read_topic(p.bootstrap, ingest.events_topic)]
    assert sum(len(r["batch"]) for r in records) == N_CALLS
    for r in records:  # the client's sentAt kept (it sends it on the envelope), receivedAt stamped
        assert r["sentAt"] and all(c["receivedAt"] and c["messageId"] for c in r["batch"])
    p.wait_caught_up()
    model = load_model(None)
    scores, changes, _end = core_run(DEMO, model)
    alerts = p.alerts()
    assert len(alerts) >= 3  # the example moves bands
    assert_same(p.export(model), alerts, scores, expected_alerts(changes))


def test_analytics_python_through_ingest_scores_like_replay(through_ingest: tuple[Pipeline, IngestProc]) -> None:
    p, ingest = through_ingest
    assert send_file(DEMO, ingest.base, KEYS["web"], gzip=True) == (N_CALLS, 1)
    check_scored_like_replay(p, ingest)


def test_analytics_node_through_ingest_scores_like_replay(through_ingest: tuple[Pipeline, IngestProc]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed on this machine")
    if not (ROOT / "node_modules" / "@segment" / "analytics-node").is_dir():
        pytest.fail("@segment/analytics-node is not installed: run `npm ci` (scripts/bootstrap.sh does)")
    p, ingest = through_ingest
    out = subprocess.run([node, str(NODE_SCRIPT), str(DEMO), ingest.base, KEYS["backend"]],
                         capture_output=True, text=True, timeout=180, cwd=ROOT,
                         env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")})
    assert out.returncode == 0, out.stderr + out.stdout
    assert f'"sent":{N_CALLS},"skipped":1,"failed":0' in out.stdout, out.stdout
    check_scored_like_replay(p, ingest)
