"""One ordered stream of raw messages through parse -> resolve -> score: `pulse replay`'s loop body.

`Feed.feed(raw, changes)` parses one message (a line of the replay file), routes each valid event
to its account and scores it, appending the band changes it caused to `changes` in order. Invalid
events are counted by reason; `identify` / `group` / `alias` / `delete` calls only update the
resolver (a `group` call maps its sender). `now_us` is the wall-clock instant the future-skew
rule is checked against (`pulse replay`: the wall clock when it starts, or `--now`); None
disables the check. It lives here,
beside the engine, so that the whole per-event path is compiled with it (scoring/__init__.py); the
runtime around it (files, progress, output) stays in streams/offline/replay.py.
"""

from __future__ import annotations

from collections.abc import Callable

from scoring.calls import Event, Rejected, ScoredEvent
from scoring.change import Change
from scoring.engine import Resolver, Scorer
from scoring.events import parse_message
from scoring.model import Model

# Sees every valid event after it is handled: (scored event, its status) or (other call, None).
Observer = Callable[[Event | ScoredEvent, str | None], None]


class Feed:
    def __init__(self, model: Model, sweep_seconds: int = 86400,
                 observe: Observer | None = None, now_us: int | None = None,
                 max_future_skew_us: int = 300_000_000) -> None:
        self.resolver = Resolver()
        self.scorer = Scorer(model, sweep_seconds)
        self.observe = observe
        self.invalid: dict[str, int] = {}  # rejected events by reason
        self.first_ts: int | None = None  # the first scored event's time
        self.now_us = now_us
        self.skew_us = max_future_skew_us

    def feed(self, raw: bytes, changes: list[Change]) -> None:
        """Parse, route and score one message; its changes are appended to `changes`."""
        resolver, scorer, observe = self.resolver, self.scorer, self.observe
        for item in parse_message(raw, now_us=self.now_us, max_future_skew_us=self.skew_us):
            if isinstance(item, Rejected):
                self._reject(item)
                continue
            routed = resolver.route(item)
            if routed is None:  # identify / group / alias / delete
                if observe is not None:
                    observe(item, None)
            elif isinstance(routed, Rejected):
                self._reject(routed)
            else:
                if self.first_ts is None:
                    self.first_ts = routed.ts_us
                status = scorer.handle_into(routed, changes)
                if observe is not None:
                    observe(routed, status)

    def _reject(self, item: Rejected) -> None:
        self.invalid[item.reason] = self.invalid.get(item.reason, 0) + 1
