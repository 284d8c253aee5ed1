"""A short, derandomized fuzz run of the event parser (the long one: tests/bench/fuzz_parser.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings

from tests.fuzzing import check, records


@settings(max_examples=400, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records)
@example(b'{"type":"track","event":"Login","userId":"\\ud800","timestamp":"2026-11-02T10:15:00Z"}')
@example(b'{"type":"track","event":"Login","userId":"u","timestamp":"2026-11-02T10:15:00Z",'
         b'"properties":{"x":1e400}}')
@example('{"type":"track","event":"Login","userId":"u","timestamp":"2026-11-02T10:15:00Z"}'.encode("utf-16"))
def test_parser_never_raises_and_its_output_serializes(raw: bytes) -> None:
    check(raw)
