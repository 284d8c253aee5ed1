"""The dashboard's backlog (newest changelog row per account, oldest change first) and its CPU budget."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.dashboard.backlog import Backlog, CpuBudget

rows = st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]),
                          st.one_of(st.none(), st.binary(max_size=4))), max_size=60)


@given(rows)
def test_backlog_yields_each_key_once_with_its_newest_value_in_first_change_order(rs: list) -> None:
    b = Backlog()
    for t, (k, v) in enumerate(rs):
        b.add(k, v, float(t))
    newest: dict[bytes, bytes | None] = {}
    first: list[bytes] = []
    for k, v in rs:  # expected, by hand: a last-value-wins table, keys by first appearance
        if k not in newest:
            first.append(k)
        newest[k] = v
    out = [b.take() for _ in range(len(b))]
    assert out == [(k, newest[k]) for k in first]
    assert b.received == len(rs) and b.coalesced == len(rs) - len(first)
    assert len(b) == 0 and b.oldest_age(1e9) == 0.0


def test_a_replaced_row_keeps_its_age_and_place() -> None:
    b = Backlog()
    b.add(b"x", b"1", 10.0)
    b.add(b"y", b"1", 11.0)
    b.add(b"x", b"2", 12.0)  # x changed again: still first, still dirty since 10.0
    assert b.oldest_age(15.0) == 5.0
    assert not b.ready(11.5, 2.0) and b.ready(12.0, 2.0)
    assert b.take() == (b"x", b"2")
    assert b.oldest_age(15.0) == 4.0  # now y's age
    assert b.take() == (b"y", b"1")
    with pytest.raises(KeyError):
        b.take()
    assert not b.ready(100.0, 0.0)


def test_metas_keep_the_newest_per_partition_and_are_taken_once() -> None:
    b = Backlog()
    b.add_meta(b"__meta:0", b"old")
    b.add_meta(b"__meta:1", b"p1")
    b.add_meta(b"__meta:0", b"new")
    assert sorted(b.take_metas()) == [b"new", b"p1"]
    assert b.take_metas() == []
    assert len(b) == 0  # metas are not accounts


def test_budget_fills_at_its_share_up_to_the_burst_while_busy() -> None:
    bud = CpuBudget(share=0.1, burst=0.2)
    assert bud.available(0.0, busy=True) == 0.0  # nothing saved up yet
    assert bud.available(1.0, busy=True) == pytest.approx(0.1)  # 1 s of wall time: 0.1 CPU s
    bud.spend(0.15, busy=True)  # a derivation is not cut short: overdrawn by 0.05
    assert bud.available(1.0, busy=True) == 0.0
    assert bud.available(1.5, busy=True) == pytest.approx(0.0, abs=1e-12)  # 0.05 s refilled pays the debt
    assert bud.available(2.0, busy=True) == pytest.approx(0.05)
    assert bud.available(100.0, busy=True) == pytest.approx(0.2)  # capped at the burst


def test_budget_is_unlimited_when_quiet_and_what_is_spent_then_is_not_owed() -> None:
    bud = CpuBudget(share=0.1, burst=0.2)
    assert bud.available(0.0, busy=False) == math.inf
    bud.spend(30.0, busy=False)  # catching up while the worker is quiet
    assert bud.available(1.0, busy=True) == pytest.approx(0.1)
    bud.spend(0.5, busy=True)  # overdrawn while busy ...
    assert bud.available(1.0, busy=False) == math.inf  # ... forgiven by a quiet spell
    assert bud.available(1.0, busy=True) == 0.0


@given(st.floats(0.01, 1.0), st.lists(st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 0.05)), max_size=80))
def test_busy_spending_never_exceeds_share_times_wall_time_plus_one_step(share: float, steps: list) -> None:
    """Whoever spends only what `available` allows (plus at most one step's overrun) spends at
    most share x elapsed + burst + one step over any busy stretch."""
    bud = CpuBudget(share=share, burst=0.2)
    now, spent = 0.0, 0.0
    bud.available(now, busy=True)
    for dt, step in steps:
        now += dt
        allowed = bud.available(now, busy=True)
        if allowed > 0:
            use = min(allowed, 0.02) + step  # up to 20 ms, overrun by one derivation
            bud.spend(use, busy=True)
            spent += use
    assert spent <= share * now + 0.2 + 0.02 + 0.05 + 1e-9


def test_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        CpuBudget(share=0.0)
    with pytest.raises(ValueError, match="share"):
        CpuBudget(share=1.5)
    assert CpuBudget(share=1.0).available(0.0, busy=True) == math.inf
