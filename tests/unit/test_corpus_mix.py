"""streams/dev/corpus.py `mix` and `wholly_invalid`: what `pulse bench stream --hostile-fraction`
puts into the stream."""

from __future__ import annotations

from streams.dev.corpus import Case, load, mix, wholly_invalid


def test_mix_replaces_one_record_in_a_hundred_round_robin_and_keeps_the_length() -> None:
    lines = [f"line-{i}".encode() for i in range(1000)]
    cases = [Case("a", b"\xff", ["invalid:not_json"]), Case("b", b"[]", ["invalid:not_object"])]
    m = mix(lines, 0.01, cases)
    assert len(m.records) == 1000
    assert sorted(m.hostile) == list(range(50, 1000, 100))
    assert [m.hostile[i].name for i in sorted(m.hostile)] == ["a", "b"] * 5
    assert all(m.records[i] == m.hostile[i].raw for i in m.hostile)
    assert m.good == [x for i, x in enumerate(lines) if i not in m.hostile]
    assert mix(lines, 0.0, cases).records == lines and not mix(lines, 0.0, cases).hostile


def test_the_cases_mixed_in_are_wholly_invalid_pinned_and_small() -> None:
    chosen = wholly_invalid(load())
    assert len(chosen) >= 200
    for c in chosen:
        assert c.pinned and c.expect and all(e.startswith("invalid:") for e in c.expect), c.name
        assert len(c.raw) <= 64 * 1024, c.name
