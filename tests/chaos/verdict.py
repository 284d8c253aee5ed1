"""The verdict of a chaos run, from what was collected after it (no Kafka here, plain data).

Expected values never come from the pipeline under test: scores and alerts from `pulse replay`
(the pure core) over the very records the `events` topic holds, dead letters from the
generator's list of bad lines with the reason each is meant to get (written out below by hand).
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from streams.dev.telemetry import BAD_LINES

# what each of the generator's bad lines is: the dead-letter reason a reader of the line expects
MEANT_TO_FAIL: dict[bytes, str] = dict(zip(BAD_LINES, (
    "not_json",       # truncated object
    "not_json",       # not json at all
    "bad_type",       # userId: true
    "bad_timestamp",  # a date without a time
    "unknown_type",   # type "purchase"
    "no_account",     # neither userId nor anonymousId nor groupId
    "bad_batch",      # batch is not a list
    "not_object",     # a JSON array
    "bad_type",       # context is a string
), strict=True))
KEYS = ("from", "to", "at", "score")


def scores_check(export: list[dict[str, Any]], replay: list[dict[str, Any]]) -> dict[str, Any]:
    mine = {r["account"]: r for r in export}
    want = {r["account"]: r for r in replay}
    missing = sorted(set(want) - set(mine))
    extra = sorted(set(mine) - set(want))
    wrong = [a for a in want if a in mine and (mine[a]["band"] != want[a]["band"]
                                                or abs(mine[a]["score"] - want[a]["score"]) > 1e-6)]
    return {"accounts": len(want), "missing": len(missing), "extra": len(extra), "different": len(wrong),
            "examples": [{"account": a, "replay": want[a], "worker": mine[a]} for a in wrong[:3]]
            + [{"account": a, "missing_from_worker": True} for a in missing[:3]],
            "ok": not missing and not extra and not wrong}


def _per_account(rows: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(r["account"], []).append(
            tuple(round(r[k], 9) if isinstance(r[k], float) else r[k] for k in KEYS))
    return out


def _first_of_each(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for a in rows:
        if a["alert_id"] not in seen:
            seen.add(a["alert_id"])
            out.append(a)
    return out


def alerts_check(topic: list[dict[str, Any]], want: list[dict[str, Any]]) -> dict[str, Any]:
    """The `alerts` topic against replay's alerts: none lost, none invented, per-account order."""
    ids = Counter(a["alert_id"] for a in topic)
    want_ids = {a["alert_id"] for a in want}
    lost = sorted(want_ids - set(ids))
    invented = sorted(set(ids) - want_ids)
    # first occurrences on both sides: replay itself can make one alert id twice (two equal
    # signals at the same instant, e.g. two `Payment Failed` with one timestamp), and the worker
    # then writes it twice too
    have_seq, want_seq = _per_account(_first_of_each(topic)), _per_account(_first_of_each(want))
    order_ok = have_seq == want_seq
    differ = sorted(a for a in want_seq if have_seq.get(a) != want_seq[a])
    example: dict[str, Any] = {}
    if differ:
        a = differ[0]
        h, w = have_seq.get(a, []), want_seq[a]
        i = next((k for k, (x, y) in enumerate(zip(h, w, strict=False)) if x != y), min(len(h), len(w)))
        example = {"account": a, "index": i, "topic": h[i:i + 3], "replay": w[i:i + 3]}
    return {"expected": len(want_ids), "on_topic": len(topic), "lost": len(lost), "invented": len(invented),
            "repeated_on_topic": sum(n - 1 for n in ids.values()) - (len(want) - len(want_ids)),
            "order_per_account_ok": order_ok,
            "accounts_out_of_order": len(differ), "out_of_order_example": example,
            "lost_examples": lost[:5], "ok": not lost and not invented and order_ok}


def delivery_check(name: str, ledger: Any, want_ids: set[str],
                   when: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One channel: every expected alert accepted once by idempotency key. `doubled`: an alert
    accepted under two keys (a receiver that deduplicates would show it twice). A key delivered
    again after a success is `redelivered_same_key` (a deduplicating receiver drops it: at-least-
    once delivery after a kill), reported with the fault that preceded each."""
    by_alert = Counter(ledger.accepted.values())
    lost = sorted(want_ids - set(by_alert))
    invented = sorted(set(by_alert) - want_ids)
    doubled_alerts = sum(n - 1 for n in by_alert.values())  # same alert under another key
    return {"channel": name, **ledger.summary(), "expected": len(want_ids), "lost": len(lost),
            "invented": len(invented), "doubled": doubled_alerts,
            "redelivered_after": dict(sorted(Counter(w["after"] for w in when or []).items())),
            "lost_examples": lost[:5], "ok": not lost and not invented and doubled_alerts == 0}


def dead_letters_check(log: list[tuple[int, int, bytes]], dlq: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker's dead-letter topic holds exactly the generator's bad lines (by source offset),
    each with the reason it was meant to get. Re-published copies (at-least-once) are counted."""
    meant = {(p, o): MEANT_TO_FAIL[v] for p, o, v in log if v in MEANT_TO_FAIL}
    got: dict[tuple[int, int], str] = {}
    for d in dlq:
        got[(d["partition"], d["offset"])] = d["reason"]
    raw_ok = all(base64.b64decode(d["raw_b64"]) in MEANT_TO_FAIL for d in dlq)
    unexpected = sorted(set(got) - set(meant))
    missing = sorted(set(meant) - set(got))
    wrong_reason = sorted(k for k in meant if k in got and got[k] != meant[k])
    return {"meant_to_fail": len(meant), "by_reason": dict(sorted(Counter(meant.values()).items())),
            "dead_letters": len(dlq), "distinct": len(got), "repeated": len(dlq) - len(got),
            "got_by_reason": dict(sorted(Counter(got.values()).items())),
            "unexpected": len(unexpected), "missing": len(missing), "wrong_reason": len(wrong_reason),
            "unexpected_examples": [[*k, got[k]] for k in unexpected[:5]],
            "ok": not unexpected and not missing and not wrong_reason and raw_ok}


def offsets_check(samples: list[dict[str, Any]], kills: list[dict[str, Any]],
                  final: list[Any]) -> dict[str, Any]:
    """faust-streaming #606/#596/#502 regressions: the worker group's committed offsets never go
    back, advance again after every kill (rebalance), and end at the log end offset."""
    back: list[dict[str, Any]] = []
    last: dict[str, int] = {}
    for s in samples:
        for tp, off in s["committed"].items():
            if tp in last and off < last[tp]:
                back.append({"tp": tp, "from": last[tp], "to": off, "t": s["t"]})
            last[tp] = max(off, last.get(tp, off))
    stalled = []
    for k in kills:
        before = k.get("committed") or {}
        after = [s for s in samples if s["t"] > k["t"]]
        for tp, off in before.items():
            end = max((s["end"].get(tp, 0) for s in after), default=0)
            if off < end and not any(s["committed"].get(tp, -1) > off for s in after):
                stalled.append({"kill_at": k["t"], "tp": tp, "committed_at_kill": off})
    not_at_end = [{"tp": f"{x.topic}[{x.partition}]", "committed": x.committed, "end": x.end}
                  for x in final if x.end > 0 and x.committed != x.end]
    return {"samples": len(samples), "rebalances_checked": len(kills), "went_back": len(back),
            "went_back_examples": back[:5], "stalled_after_kill": stalled, "not_at_end": not_at_end,
            "final": {f"{x.topic}[{x.partition}]": [x.committed, x.end] for x in final},
            "ok": not back and not stalled and not not_at_end}
