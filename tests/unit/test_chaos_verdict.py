"""The chaos harness's checks (tests/chaos/verdict.py) catch what they are meant to catch, on
hand-made data: a lost or invented alert, a delivery doubled under another key, a dead letter
that was not meant to fail, a committed offset going back or stalling after a kill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.dev.telemetry import BAD_LINES
from tests.chaos import verdict


def alert(i: int, account: str = "a") -> dict[str, Any]:
    return {"alert_id": f"id{i}", "account": account, "from": "green", "to": "red",
            "at": f"2026-08-0{i}T00:00:00+00:00", "score": 1.0 * i}


def test_alerts_lost_invented_repeated_and_order() -> None:
    want = [alert(1), alert(2), alert(3)]
    ok = verdict.alerts_check([alert(1), alert(2), alert(2), alert(3)], want)
    assert ok["ok"] and ok["repeated_on_topic"] == 1
    lost = verdict.alerts_check([alert(1), alert(3)], want)
    assert not lost["ok"] and lost["lost"] == 1 and lost["lost_examples"] == ["id2"]
    invented = verdict.alerts_check([*want, alert(4)], want)
    assert not invented["ok"] and invented["invented"] == 1
    twice = verdict.alerts_check([alert(1), alert(1), alert(2), alert(3)], [alert(1), alert(1), *want[1:]])
    assert twice["ok"] and twice["repeated_on_topic"] == 0  # replay made id1 twice: not a repeat
    swapped = verdict.alerts_check([alert(2), alert(1), alert(3)], want)
    assert not swapped["ok"] and not swapped["order_per_account_ok"] and swapped["accounts_out_of_order"] == 1
    assert swapped["out_of_order_example"]["index"] == 0


@dataclass
class FakeLedger:
    accepted: dict[str, str]
    duplicates: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"redelivered_same_key": sum(self.duplicates.values())}


def test_deliveries_lost_and_doubled_under_another_key() -> None:
    want = {"id1", "id2"}
    assert verdict.delivery_check("c", FakeLedger({"k1": "id1", "k2": "id2"}, {"k1": 2}), want)["ok"]
    doubled = verdict.delivery_check("c", FakeLedger({"k1": "id1", "k2": "id2", "k3": "id2"}), want)
    assert not doubled["ok"] and doubled["doubled"] == 1
    lost = verdict.delivery_check("c", FakeLedger({"k1": "id1"}), want)
    assert not lost["ok"] and lost["lost"] == 1


def test_dead_letters_exactly_the_bad_lines_with_their_reasons() -> None:
    import base64

    log = [(0, 0, b'{"ok": 1}'), (0, 1, BAD_LINES[1]), (0, 2, BAD_LINES[7])]
    dl = [{"partition": 0, "offset": 1, "reason": "not_json", "raw_b64": base64.b64encode(BAD_LINES[1]).decode()},
          {"partition": 0, "offset": 2, "reason": "not_object", "raw_b64": base64.b64encode(BAD_LINES[7]).decode()}]
    assert verdict.dead_letters_check(log, dl + dl[:1])["ok"]  # a repeat is counted, not a failure
    assert verdict.dead_letters_check(log, dl + dl[:1])["repeated"] == 1
    assert not verdict.dead_letters_check(log, dl[:1])["ok"]  # one missing
    wrong = [dict(dl[0]), {**dl[1], "reason": "bad_type"}]
    assert verdict.dead_letters_check(log, wrong)["wrong_reason"] == 1
    extra = [*dl, {"partition": 0, "offset": 0, "reason": "bad_type", "raw_b64": ""}]
    assert verdict.dead_letters_check(log, extra)["unexpected"] == 1


@dataclass
class Lag:
    topic: str
    partition: int
    committed: int | None
    end: int


def test_offsets_going_back_stalling_and_ending_short() -> None:
    tp = "events[0]"
    s = [{"t": 1.0, "committed": {tp: 10}, "end": {tp: 100}},
         {"t": 2.0, "committed": {tp: 50}, "end": {tp: 100}},
         {"t": 3.0, "committed": {tp: 100}, "end": {tp: 100}}]
    final = [Lag("events", 0, 100, 100)]
    assert verdict.offsets_check(s, [{"t": 1.5, "committed": {tp: 10}}], final)["ok"]
    back = [*s[:2], {"t": 2.5, "committed": {tp: 40}, "end": {tp: 100}}, s[2]]
    assert verdict.offsets_check(back, [], final)["went_back"] == 1
    stalled = [s[0], {"t": 2.0, "committed": {tp: 10}, "end": {tp: 100}}]
    r = verdict.offsets_check(stalled, [{"t": 1.5, "committed": {tp: 10}}], [Lag("events", 0, 10, 100)])
    assert not r["ok"] and r["stalled_after_kill"] and r["not_at_end"]
