"""`pulse replay`: run the pure scoring core over a file of events (no Kafka).

Input: one Segment event or `{"batch": [...]}` envelope per line (JSONL, or
gzip when the name ends in `.gz`), in arrival order; blank lines are skipped; a
bad line is counted, never fatal. A line's size (for the 500,000-byte record limit) excludes
its newline (`\n` or `\r\n`).

Future skew: as in the stream, an event more than `max_future_skew_us` ahead of the wall clock
is invalid (`future_timestamp`); the wall clock is read once, when the replay starts, unless
`now_us` gives another instant (`pulse replay --now ISO`), so one absurd timestamp cannot push an
account's clock past all its later events.

Output in DIR (byte-identical for the same input, model and sweep):
- `scores.jsonl`  one line per account, sorted by account id, after the end-of-input advance
- `changes.jsonl` every evaluation that set or changed a band, in order
- `health_changes.jsonl`, `signals.jsonl`, `health_scores.jsonl`: only for a model with
  `[health]` or `[explain]` (the three files above keep their format either way):
  health band evaluations that set or changed the health band (`changes.jsonl`'s format), signal
  alerts in order (`{"account", "kind", "reason", "band", "score", "at", "detail"}`), and each
  account's health at the end (`{"account", "health", "band", "components"}`)
- `summary.json`  counts: accepted, duplicate, late (scored events), invalid
  (rejected events; a bad line counts once), accounts, changes, and
  `seconds`: the event time the replay covered (final stream clock minus the
  first scored event's time). Wall-clock time varies between runs, so it is
  reported on the terminal instead, to keep the file deterministic.
"""

from __future__ import annotations

import gc
import gzip
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from scoring.engine import Change, Scorer
from scoring.feed import Feed, Observer
from scoring.model import Model
from scoring.timefmt import US_PER_SECOND, format_us

_OPTS = orjson.OPT_APPEND_NEWLINE


@dataclass
class ReplayResult:
    summary: dict[str, Any]
    wall_seconds: float
    lines: int
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    account_traits: dict[str, dict[str, Any]] = field(default_factory=dict)  # from group calls
    scorer: Scorer | None = None  # the final state, for end-of-file readings (`pulse report`)


def _change_line(c: Change) -> bytes:
    d = c.to_json_dict()
    d["score"] = d["score"] + 0.0
    return orjson.dumps(d, option=_OPTS)


def _signal_line(c: Change) -> bytes:
    detail = (c.explain or {}).get("detail", {})
    return orjson.dumps({"account": c.account, "kind": c.kind, "reason": c.reason, "band": c.to_band,
                         "score": c.score + 0.0, "at": format_us(c.at_us), "detail": detail},
                        option=_OPTS)


def write_scores(path: Path, rows: Iterable[tuple[str, float, str]]) -> None:
    """`scores.jsonl`: one line per (account, score, band), in the order given."""
    with path.open("wb") as f:
        for account, score, band in rows:
            f.write(orjson.dumps({"account": account, "score": score + 0.0, "band": band}, option=_OPTS))


def write_health_scores(path: Path, rows: Iterable[tuple[str, float | None, str | None,
                                                         dict[str, float | None]]]) -> None:
    """`health_scores.jsonl`: one line per (account, health, health band, components)."""
    with path.open("wb") as f:
        for account, health, band, comps in rows:
            f.write(orjson.dumps({"account": account, "health": health, "band": band,
                                  "components": comps}, option=_OPTS))


class _Extras:
    """The extra output files of a model with `[health]` / `[explain]`."""

    def __init__(self, out_dir: Path) -> None:
        self.health = (out_dir / "health_changes.jsonl").open("wb")
        self.signals = (out_dir / "signals.jsonl").open("wb")

    def write(self, c: Change) -> None:
        if c.reason is None:
            self.health.write(_change_line(c))
        else:
            self.signals.write(_signal_line(c))

    def close(self, scorer: Scorer, out_dir: Path) -> None:
        self.health.close()
        self.signals.close()
        write_health_scores(out_dir / "health_scores.jsonl", scorer.health_scores())


def replay(path: Path, model: Model, out_dir: Path, *, sweep_seconds: int = 86400,
           on_progress: Callable[[int], None] | None = None,
           observe: Observer | None = None, now_us: int | None = None,
           max_future_skew_us: int = 300_000_000) -> ReplayResult:
    """Replay `path` with `model` into `out_dir`. `on_progress(bytes_read)` is called now and then;
    `observe` (e.g. `pulse report`) sees every valid event. `now_us`: the instant the future-skew
    rule is checked against (default: the wall clock now)."""
    started = time.perf_counter()
    if now_us is None:
        now_us = time.time_ns() // 1000
    feed = Feed(model, sweep_seconds, observe, now_us, max_future_skew_us)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the state holds millions of small acyclic objects: cyclic GC passes only cost time
    try:
        return _replay(path, feed, out_dir, on_progress, started)
    finally:
        if gc_was_enabled:
            gc.enable()


def _replay(path: Path, feed: Feed, out_dir: Path, on_progress: Callable[[int], None] | None,
            started: float) -> ReplayResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    scorer = feed.scorer
    extras = None if scorer.insight is None else _Extras(out_dir)
    n_changes = lines = 0
    raw_file = path.open("rb")
    src: IO[bytes] = raw_file
    if path.suffix == ".gz":
        src = gzip.GzipFile(fileobj=raw_file, mode="rb")  # type: ignore[assignment]
    with raw_file, src, (out_dir / "changes.jsonl").open("wb") as changes_out:
        write = changes_out.write

        def dispatch(changes: list[Change]) -> int:
            """Engagement band changes to changes.jsonl (counted), the rest to the extra files."""
            n = 0
            for change in changes:
                if change.reason is None and change.kind == "engagement":
                    write(_change_line(change))
                    n += 1
                else:
                    assert extras is not None
                    extras.write(change)
            changes.clear()
            return n

        changes: list[Change] = []
        feed_one = feed.feed
        for line in src:
            lines += 1
            if on_progress is not None and lines % 8192 == 0:
                on_progress(raw_file.tell())
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if line and not line.isspace():
                feed_one(line, changes)
                if changes:
                    n_changes += dispatch(changes)
        n_changes += dispatch(scorer.finish())
        if on_progress is not None:
            on_progress(raw_file.tell())
    if extras is not None:
        extras.close(scorer, out_dir)
    write_scores(out_dir / "scores.jsonl", scorer.scores())
    first_ts, invalid = feed.first_ts, feed.invalid
    span = 0 if first_ts is None or scorer.clock is None else scorer.clock - first_ts
    summary = {**scorer.counts, "invalid": sum(invalid.values()),
               "accounts": len(scorer.accounts), "changes": n_changes,
               "seconds": span / US_PER_SECOND}
    (out_dir / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | _OPTS))
    return ReplayResult(summary, time.perf_counter() - started, lines, dict(sorted(invalid.items())),
                        dict(feed.resolver.account_traits), scorer)
