"""The sequential scoring engine: routing events to accounts, scoring, sweeping.

`Resolver` turns parsed events into `ScoredEvent`s (account resolved) and keeps
the user -> account mapping from `group` calls and the account traits.

`Scorer` is one stream of scored events: the whole file in `pulse replay`, one
partition of the account-keyed topic in the stream. Per event it

1. sweeps every sweep point the event's time reaches (multiples of
   `sweep_seconds` later than the first scored event, not yet swept): each
   known account, in account-id order, is advanced to the point and evaluated;
2. moves the stream clock;
3. applies the event to its account: duplicate (messageId remembered), else
   late (window mode: bucket <= bucket(C) - W), else accepted;
4. evaluates the band after an accepted event, at the account's clock.

`finish()` advances every account to the stream clock and evaluates (the end
of a replay file). Band changes come back as `Change`s, in the order they
happened. Readings (docs/semantics.md#late-events, #bands, #sweep):

- "the account's clock" for the late check, dedup memory and band
  evaluation includes sweep points the account was advanced to;
- an evaluation that leaves the band as it is produces no `Change`;
- the first evaluation (after the account's first accepted event) produces a
  `Change` with `from_band` None (replay lists it; the stream does not alert).

With `[explain]` / `[health]` in the model, the collaborator `Insight` (scoring/insight.py)
keeps each account's trend, explanation and health state in `Account.extra`: it sees each
accepted event and follows each engagement evaluation, adding health band changes and signals
(`Change.kind`, `Change.reason`) to the same ordered list of changes. In window mode the sweep
also visits an account when its onboarding stalls (`Insight.due_at`). Without those tables
nothing of this runs.
"""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping
from typing import Any, Literal

from scoring.account import Account
from scoring.bands import BAND_NAMES, Edges, next_band
from scoring.calls import SCORED_TYPES, Event, Rejected, ScoredEvent, resolve_account, sender_of
from scoring.change import Cause, Change
from scoring.decay import DecayRule
from scoring.dedup import MessageMemory
from scoring.insight import Insight, Signals
from scoring.model import Model
from scoring.timefmt import US_PER_SECOND
from scoring.window import WindowRule

__all__ = ["Cause", "Change", "Outcome", "Resolver", "Scorer", "Status"]

Status = Literal["accepted", "duplicate", "late"]


class Outcome:
    """What `Scorer.handle` did with one event: its status and the changes it caused, in order."""

    __slots__ = ("changes", "status")

    def __init__(self, status: Status, changes: list[Change] | None = None) -> None:
        self.status = status
        self.changes: list[Change] = [] if changes is None else changes

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Outcome) and self.status == other.status
                and self.changes == other.changes)

    def __repr__(self) -> str:
        return f"Outcome({self.status!r}, {self.changes!r})"


class Resolver:
    """User -> account mapping from `group` calls, account traits, account resolution."""

    def __init__(self, user_accounts: MutableMapping[str, str] | None = None,
                 account_traits: MutableMapping[str, dict[str, Any]] | None = None) -> None:
        self.user_accounts: MutableMapping[str, str] = (
            {} if user_accounts is None else user_accounts)
        self.account_traits: MutableMapping[str, dict[str, Any]] = (
            {} if account_traits is None else account_traits)

    def route(self, ev: Event) -> ScoredEvent | Rejected | None:
        """A scored event with its account, a rejection, or None (identify, group, alias, delete).

        A `group` call maps its sender (`userId`, else `anonymousId`: one namespace) to its
        `groupId`; a later scored event of that sender without a groupId/accountId of its own
        resolves there."""
        if ev.type in SCORED_TYPES:
            account = resolve_account(ev, self.user_accounts)
            if account is None:
                return Rejected("no_account", "no groupId, accountId, userId or anonymousId", b"")
            assert ev.name is not None
            return ScoredEvent(account, ev.name, ev.ts_us, ev.message_id, ev.properties)
        if ev.type == "group":
            assert ev.group_id is not None
            sender = sender_of(ev)
            assert sender is not None
            self.user_accounts[sender] = ev.group_id
            if ev.traits:
                self.account_traits[ev.group_id] = {
                    **self.account_traits.get(ev.group_id, {}), **ev.traits}
        return None

    def traits(self, account: str) -> dict[str, Any]:
        return dict(self.account_traits.get(account, {}))


class Scorer:
    """Scores one ordered stream of `ScoredEvent`s; see the module docstring."""

    def __init__(self, model: Model, sweep_seconds: int = 86400) -> None:
        if sweep_seconds <= 0:
            raise ValueError("sweep_seconds must be positive")
        self.model = model
        self.rule: WindowRule | DecayRule = (
            WindowRule(model.score) if model.score.mode == "window" else DecayRule(model.score))
        self.weights = model.weights
        self.bands = Edges.of(model.bands)
        self.hysteresis = model.score.hysteresis
        self.window_us = model.score.window_us
        self.sweep_us = sweep_seconds * US_PER_SECOND
        self.insight = None if model.explain_config is None else Insight(model)
        self.accounts: dict[str, Account] = {}
        self.clock: int | None = None  # the stream clock
        self.next_sweep: int | None = None  # the next sweep point not yet swept
        self.last_sweep: int | None = None  # the last sweep point swept
        self.sweeps = 0  # number of sweep points swept
        self.counts = {"accepted": 0, "duplicate": 0, "late": 0}
        self._dirty: list[str] = []  # accounts changed since `take_dirty()` (`Account.dirty` set)
        self._order: list[str] = []
        # window mode: sweep point -> accounts due then (an entry is current when it is the
        # account's `due`), and a heap of those points
        self._calendar: dict[int, list[str]] = {}
        self._points: list[int] = []

    # -- the account's clock ------------------------------------------------
    def account_clock(self, acct: Account) -> int:
        if self.last_sweep is not None and acct.since_sweep < self.sweeps:
            return max(acct.clock, self.last_sweep)
        return acct.clock

    # -- events ---------------------------------------------------------------
    def advance_stream(self, ts: int, changes: list[Change]) -> None:
        """Steps 1-2 for an event at `ts`: sweep the points it reaches, move the stream clock.

        (The stream calls this alone for an event whose account already holds it after a crash.)
        """
        if self.clock is None:
            self.clock = ts
            self.next_sweep = (ts // self.sweep_us + 1) * self.sweep_us
            return
        assert self.next_sweep is not None
        if ts >= self.next_sweep:
            self._sweep_through(ts, changes)
        if ts > self.clock:
            self.clock = ts

    def sweep_to(self, now_us: int, changes: list[Change]) -> None:
        """Sweep the points up to `now_us` without moving the stream clock (a live worker's
        wall-clock tick, so silence is noticed when no events arrive)."""
        if self.next_sweep is not None and now_us >= self.next_sweep:
            self._sweep_through(now_us, changes)

    def handle(self, ev: ScoredEvent) -> Outcome:
        changes: list[Change] = []
        return Outcome(self.handle_into(ev, changes), changes)

    def handle_into(self, ev: ScoredEvent, changes: list[Change]) -> Status:
        """`handle`, appending the changes to `changes` (no Outcome built: the replay's hot path)."""
        self.advance_stream(ev.ts_us, changes)
        acct = self.accounts.get(ev.account)
        if acct is None:
            status = self._first_event(ev, changes)
        else:
            status = self._apply(ev, acct, changes)
        self.counts[status] += 1
        return status

    def _first_event(self, ev: ScoredEvent, changes: list[Change]) -> Status:
        acct = Account(ev.ts_us, self.sweeps, None, self.rule.new(), MessageMemory(),
                       None if self.insight is None else self.insight.new())
        self.accounts[ev.account] = acct
        self._order = []
        self._accept(ev, acct, changes)
        return "accepted"

    def _apply(self, ev: ScoredEvent, acct: Account, changes: list[Change]) -> Status:
        clock = acct.clock
        last_sweep = self.last_sweep
        if last_sweep is not None and last_sweep > clock and acct.since_sweep < self.sweeps:
            clock = last_sweep
        mid = ev.message_id
        if mid is not None and acct.seen.is_duplicate(mid, clock, self.window_us):
            return "duplicate"
        if self.rule.is_late(clock, ev.ts_us):
            if mid is not None:
                acct.seen.record(mid, clock, self.window_us)
                self._touch(ev.account, acct)
            return "late"
        acct.clock = clock if clock > ev.ts_us else ev.ts_us
        acct.since_sweep = self.sweeps
        self._accept(ev, acct, changes)
        return "accepted"

    def _accept(self, ev: ScoredEvent, acct: Account, changes: list[Change]) -> None:
        """Add an accepted event to an account whose clock is already moved."""
        account = ev.account
        insight = self.insight
        signals = None if insight is None or acct.extra is None else insight.accept(
            acct.extra, ev, acct.clock)
        if self.rule.accept(acct.state, ev.ts_us, self.weights.get(ev.name, 0.0),  # type: ignore[arg-type]
                            acct.clock) or insight is not None:  # (an older event moves the stall time)
            self._watch_expiry(account, acct)
        if ev.message_id is not None:
            acct.seen.record(ev.message_id, acct.clock, self.window_us)
        self._touch(account, acct)
        self._evaluate(account, acct, acct.clock, "event", changes, signals)

    def _evaluate(self, account: str, acct: Account, clock: int, cause: Cause,
                  changes: list[Change], signals: Signals | None = None) -> None:
        score = self.rule.value_at(acct.state, clock)  # type: ignore[arg-type]
        band = next_band(acct.band, score, self.bands, self.hysteresis)
        insight, extra = self.insight, acct.extra
        if band != acct.band:
            old = None if acct.band is None else BAND_NAMES[acct.band]
            acct.band = band
            self._touch(account, acct)
            changes.append(Change(account, old, BAND_NAMES[band], score, clock, cause,
                                  explain=None if insight is None or extra is None
                                  else insight.explain(extra, clock, score)))
        if insight is not None and extra is not None:
            insight.evaluate(account, band, extra, clock, score, cause, changes, signals)
            self._touch(account, acct)

    # -- the sweep ------------------------------------------------------------
    def _watch_expiry(self, account: str, acct: Account) -> None:
        """Schedule the account for the first sweep at which a bucket leaves its window (or at
        which its onboarding stalls: `Insight.due_at`). Decay mode sweeps every account."""
        if not isinstance(self.rule, WindowRule):
            return
        at = self.rule.expires_at(acct.state)  # type: ignore[arg-type]
        if acct.extra is not None and self.insight is not None:
            due = self.insight.due_at(acct.extra)
            if due is not None and (at is None or due < at):
                at = due
        if at is None:
            return
        point = -(-at // self.sweep_us) * self.sweep_us  # the first sweep point at or after it
        if acct.due is None or point < acct.due:
            acct.due = point
            accounts = self._calendar.get(point)
            if accounts is None:
                self._calendar[point] = [account]
                heapq.heappush(self._points, point)
            else:
                accounts.append(account)

    def _insight_due(self, acct: Account, point: int) -> bool:
        due = None if acct.extra is None or self.insight is None else self.insight.due_at(acct.extra)
        return due is not None and due <= point

    def _sorted_accounts(self) -> list[str]:
        if len(self._order) != len(self.accounts):
            self._order = sorted(self.accounts)
        return self._order

    def _sweep_through(self, ts: int, changes: list[Change]) -> None:
        """Sweep every unswept point <= ts, in order."""
        assert self.next_sweep is not None
        last = ts // self.sweep_us * self.sweep_us
        point = self.next_sweep
        while point <= last:
            if isinstance(self.rule, WindowRule):
                # Only accounts with a bucket leaving the window can change band;
                # jump to the first point where one does.
                points = self._points
                if not points or points[0] > last:
                    point = last
                    self._mark_swept(point)
                    break
                point = max(point, points[0])
                self._sweep_window(point, changes)
            else:
                self._sweep_all(point, changes)
            self._mark_swept(point)
            point += self.sweep_us
        self.next_sweep = last + self.sweep_us

    def _mark_swept(self, point: int) -> None:
        self.last_sweep = point
        self.sweeps += 1

    def _sweep_all(self, point: int, changes: list[Change]) -> None:
        accounts = self.accounts
        for account in self._sorted_accounts():
            self._evaluate(account, accounts[account], point, "sweep", changes)

    def _sweep_window(self, point: int, changes: list[Change]) -> None:
        points, accounts, rule = self._points, self.accounts, self.rule
        due: list[tuple[str, Account]] = []
        while points and points[0] <= point:
            p = heapq.heappop(points)
            for account in self._calendar.pop(p):
                acct = accounts[account]
                if acct.due == p:  # else a stale entry
                    acct.due = None
                    due.append((account, acct))
        due.sort(key=lambda pair: pair[0])  # account ids are unique: the order is by id
        for account, acct in due:
            if rule.prune(acct.state, point) or self._insight_due(acct, point):  # type: ignore[arg-type]
                self._touch(account, acct)
                self._evaluate(account, acct, point, "sweep", changes)
            self._watch_expiry(account, acct)

    # -- end of input -------------------------------------------------------
    def finish(self) -> list[Change]:
        """Advance every account to the stream clock and evaluate it (end of a replay)."""
        changes: list[Change] = []
        if self.clock is None:
            return changes
        for account in self._sorted_accounts():
            self.finish_account(account, self.accounts[account], changes)
        return changes

    def finish_account(self, account: str, acct: Account, changes: list[Change]) -> None:
        """`finish()` for one account (the dashboard reads accounts one at a time)."""
        if self.clock is None:
            return
        acct.clock = max(self.account_clock(acct), self.clock)
        acct.since_sweep = self.sweeps
        self._evaluate(account, acct, acct.clock, "end", changes)

    def scores(self) -> list[tuple[str, float, str]]:
        """(account, score, band) at each account's clock, sorted by account."""
        out = []
        for account in self._sorted_accounts():
            acct = self.accounts[account]
            score = self.rule.value_at(acct.state, self.account_clock(acct))  # type: ignore[arg-type]
            assert acct.band is not None
            out.append((account, score, BAND_NAMES[acct.band]))
        return out

    def health_scores(self) -> list[tuple[str, float | None, str | None, dict[str, float | None]]]:
        """(account, health, health band, components) at each account's clock, by account;
        empty when the model has no `[health]`."""
        insight, out = self.insight, []
        if insight is None or insight.health is None:
            return []
        for account in self._sorted_accounts():
            acct = self.accounts[account]
            clock = self.account_clock(acct)
            assert acct.extra is not None and acct.extra.health is not None
            score = self.rule.value_at(acct.state, clock)  # type: ignore[arg-type]
            health, comps = insight.health_now(acct.extra, clock, score)
            band = acct.extra.health.band
            out.append((account, health, None if band is None else BAND_NAMES[band], comps))
        return out

    # -- persistence ----------------------------------------------------------
    def _touch(self, account: str, acct: Account) -> None:
        if not acct.dirty:
            acct.dirty = True
            self._dirty.append(account)

    def take_dirty(self) -> set[str]:
        """The accounts changed since the last call (the stream persists them)."""
        dirty, self._dirty = self._dirty, []
        accounts = self.accounts
        for account in dirty:
            accounts[account].dirty = False
        return set(dirty)

    def dump_meta(self) -> dict[str, Any]:
        return {"clock": self.clock, "next_sweep": self.next_sweep, "last_sweep": self.last_sweep,
                "sweeps": self.sweeps, "counts": dict(self.counts)}

    def dump_account(self, account: str) -> list[Any]:
        """The account's state to persist (stale messageIds left out)."""
        acct = self.accounts[account]
        return acct.dump(self.account_clock(acct) - self.window_us)

    def load(self, meta: dict[str, Any] | None, accounts: dict[str, list[Any]]) -> None:
        """Restore from `dump_meta()` and `dump_account()` output."""
        if meta:
            self.clock, self.next_sweep = meta["clock"], meta["next_sweep"]
            self.last_sweep, self.sweeps = meta["last_sweep"], meta["sweeps"]
            self.counts.update(meta["counts"])
        new_extra = None if self.insight is None else self.insight.new
        self.accounts = {a: Account.load(d, new_extra) for a, d in accounts.items()}
        self._order = []
        self._calendar = {}
        self._points = []
        for account, acct in self.accounts.items():
            self._watch_expiry(account, acct)
        self._dirty = []
