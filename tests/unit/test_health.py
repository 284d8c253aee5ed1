"""The Customer Health Score (docs/semantics.md#health): the worked example and the component arithmetic.

Every expected value is computed by hand (tests/data/health/EXAMPLE.md, and the comments here);
none is produced by the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.account import Account
from scoring.calls import Rejected, ScoredEvent
from scoring.engine import Change, Resolver, Scorer
from scoring.errors import ModelError
from scoring.events import parse_message
from scoring.feed import Feed
from scoring.health import HealthState, combine, components, effective_weights, observe, weakest
from scoring.insight import Extra
from scoring.model import HealthConfig, load_model, parse_model
from streams.worker.records import alert_from_change

DATA = Path(__file__).resolve().parents[1] / "data" / "health"
TOL = 1e-9
DAY = 86400 * 1_000_000
T0 = 1_793_577_600 * 1_000_000  # 2026-11-02T00:00:00Z


def _rows(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in raw.decode().splitlines() if x.strip()]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(a - b) <= TOL
    return bool(a == b)


def _core(path: Path, model_path: Path) -> tuple[Scorer, list[Change]]:
    feed, out = Feed(load_model(model_path)), list[Change]()
    for line in path.read_bytes().splitlines():
        feed.feed(line, out)
    out.extend(feed.scorer.finish())
    return feed.scorer, out


def test_worked_example_replay_matches_hand_computed_files(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(DATA / "events.jsonl"),
                           "--model", str(DATA / "model.toml"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("changes", "scores", "health_changes", "signals", "health_scores"):
        got = _rows((tmp_path / f"{name}.jsonl").read_bytes())
        want = _rows((DATA / f"expected_{name}.jsonl").read_bytes())
        assert len(got) == len(want), (name, got)
        for g, w in zip(got, want, strict=True):
            assert _close(g, w), (name, g, w)


def test_worked_example_alert_is_yellow_and_names_the_ticket_subjects() -> None:
    _scorer, changes = _core(DATA / "events.jsonl", DATA / "model.toml")
    health = [c for c in changes if c.kind == "health" and c.reason is None and c.from_band]
    assert [(c.from_band, c.to_band) for c in health] == [("yellow", "green"), ("green", "yellow")]
    alert = alert_from_change(health[-1], traits={"plan": "enterprise"}).to_dict()
    assert alert["kind"] == "health" and alert["reason"] == "band_change"
    assert (alert["from"], alert["to"], alert["direction"]) == ("green", "yellow", "down")
    assert abs(alert["score"] - 45.6 / 0.7) <= TOL  # (0.4*84 + 0.1*70 + 0.2*25) / 0.7
    assert alert["components"] == {"usage": 84.0, "nps": 70.0, "support": 25.0, "billing": None}
    assert alert["weakest_component"] == "support"
    assert alert["explain"]["tickets"] == ["SSO integration fails", "Webhook integration timeout",
                                           "Salesforce integration sync errors"]
    assert alert["score_7d_ago"] == 90.0  # the 11-05 snapshot: 63 / 0.7
    assert abs(alert["delta_7d"] - (45.6 / 0.7 - 90.0)) <= TOL  # -24.857142857
    assert alert["top_events"] == [{"event": "Report Exported", "count": 3, "points": 90.0},
                                   {"event": "Support Ticket Opened", "count": 3, "points": -6.0}]
    assert alert["route"] == "guidance"  # the yellow band's default action
    assert alert["traits"] == {"plan": "enterprise"}


# -- components, by hand --------------------------------------------------------
CFG = HealthConfig(milestones=["Integration Connected", "Teammate Invited", "Report Exported"],
                   aha="Integration Connected")


def test_all_components_present_combine_with_the_seed_weights() -> None:
    s = HealthState()
    observe(s, CFG, "NPS Submitted", T0, {"score": 8})
    observe(s, CFG, "Payment Failed", T0 + 1, {})
    comps = components(s, CFG, engagement=50.0, tickets=2)
    assert comps == {"usage": 50.0, "nps": 80.0, "support": 50.0, "billing": 30.0}
    # 0.4*50 + 0.1*80 + 0.2*50 + 0.3*30 = 20 + 8 + 10 + 9 = 47
    assert abs(combine(comps, CFG.weights) - 47.0) <= TOL  # type: ignore[operator]
    assert weakest(comps, CFG.weights) == "billing"


def test_usage_is_clamped_support_floors_at_zero() -> None:
    s = HealthState()
    assert components(s, CFG, engagement=250.0, tickets=5)["usage"] == 100.0
    assert components(s, CFG, engagement=-30.0, tickets=5)["usage"] == 0.0
    assert components(s, CFG, engagement=0.0, tickets=5)["support"] == 0.0  # 100 - 125 -> 0
    assert components(s, CFG, engagement=0.0, tickets=3)["support"] == 25.0


def test_missing_components_weight_is_redistributed_proportionally() -> None:
    comps = {"usage": 80.0, "nps": None, "support": 50.0, "billing": None}
    # present weights 0.4 + 0.2 = 0.6 -> usage 2/3, support 1/3; (0.4*80 + 0.2*50) / 0.6 = 42/0.6 = 70
    eff = effective_weights(comps, CFG.weights)
    assert abs(eff["usage"] - 2 / 3) <= TOL and abs(eff["support"] - 1 / 3) <= TOL
    assert abs(combine(comps, CFG.weights) - 70.0) <= TOL  # type: ignore[operator]


def test_latest_billing_and_nps_are_by_event_time() -> None:
    s = HealthState()
    observe(s, CFG, "Payment Failed", T0 + 2 * DAY, {})
    observe(s, CFG, "Invoice Paid", T0 + DAY, {})  # older, arrives later: not the latest
    observe(s, CFG, "NPS Submitted", T0 + 2 * DAY, {"score": 3})
    observe(s, CFG, "NPS Submitted", T0, {"score": 10})
    observe(s, CFG, "NPS Submitted", T0 + 3 * DAY, {"score": "ten"})  # not a number: ignored
    comps = components(s, CFG, 0.0, 0)
    assert comps["billing"] == 30.0 and comps["nps"] == 30.0
    observe(s, CFG, "Subscription Past Due", T0 + 3 * DAY, {})
    assert components(s, CFG, 0.0, 0)["billing"] == 0.0


def test_onboarding_share_of_milestones_and_time_to_aha() -> None:
    from scoring.health import time_to_aha_us
    cfg = HealthConfig(weights={"usage": 0.5, "onboarding": 0.5}, milestones=CFG.milestones,
                       aha="Integration Connected")
    s = HealthState()
    observe(s, cfg, "Login", T0, {})
    observe(s, cfg, "Teammate Invited", T0 + DAY, {})
    observe(s, cfg, "Integration Connected", T0 + 3 * DAY, {})
    comps = components(s, cfg, 40.0, 0)
    assert abs(comps["onboarding"] - 200 / 3) <= TOL  # type: ignore[operator]  # 2 of 3
    assert abs(combine(comps, cfg.weights) - (20 + 100 / 3)) <= TOL  # type: ignore[operator]
    assert time_to_aha_us(s, cfg) == 3 * DAY


@pytest.mark.parametrize(("toml", "key"), [
    ("[health.weights]\nusage = 0.5\nsupport = 0.4\n", "health"),  # sums to 0.9
    ("[health.weights]\nusage = 0.5\nhappiness = 0.5\n", "health"),  # unknown component
    ("[health.weights]\nusage = 0.5\nonboarding = 0.5\n", "health"),  # no milestones
    ("[health]\nmilestones = ['A']\naha = 'B'\n", "health"),  # aha not a milestone
    ("[health]\nticket_penalty = -1.0\n", "health.ticket_penalty"),
    ("[health]\ncolour = 'red'\n", "health.colour"),
])
def test_bad_health_models_are_rejected_naming_the_key(toml: str, key: str) -> None:
    with pytest.raises(ModelError) as exc:
        parse_model(toml, source="m.toml")
    assert exc.value.key == key and str(exc.value).startswith("m.toml: [")


def test_packaged_default_model_has_a_valid_health_section() -> None:
    model = load_model(None)
    assert model.health is not None
    assert abs(sum(model.health.weights.values()) - 1.0) <= TOL


@given(st.dictionaries(st.sampled_from(["usage", "nps", "support", "billing"]),
                       st.one_of(st.none(), st.floats(0, 100)), min_size=4))
def test_health_is_within_0_100_and_effective_weights_sum_to_1(
        comps: dict[str, float | None]) -> None:
    comps = {c: comps[c] for c in ("usage", "nps", "support", "billing")}
    h = combine(comps, CFG.weights)
    eff = effective_weights(comps, CFG.weights)
    if h is None:
        assert eff == {}
    else:
        assert -TOL <= h <= 100 + TOL
        assert abs(sum(eff.values()) - 1.0) <= TOL


# -- state: persistence and the old dump shape ---------------------------------------
def test_scorer_dump_load_mid_stream_gives_the_same_changes() -> None:
    model = load_model(DATA / "model.toml")
    lines = (DATA / "events.jsonl").read_bytes().splitlines()
    resolver = Resolver()
    evs = [r for line in lines for it in parse_message(line)
           if isinstance(r := resolver.route(it) if not isinstance(it, Rejected) else it, ScoredEvent)]
    whole = Scorer(model)
    want = [c for ev in evs for c in whole.handle(ev).changes]
    first = Scorer(model)
    got = [c for ev in evs[:5] for c in first.handle(ev).changes]
    second = Scorer(model)
    second.load(json.loads(json.dumps(first.dump_meta())),
                {a: json.loads(json.dumps(first.dump_account(a))) for a in first.accounts})
    got += [c for ev in evs[5:] for c in second.handle(ev).changes]
    assert [(c.kind, c.reason, c.from_band, c.to_band, c.at_us) for c in got] == \
        [(c.kind, c.reason, c.from_band, c.to_band, c.at_us) for c in want]
    assert [c.explain for c in got] == [c.explain for c in want]


def test_an_old_account_dump_loads_with_fresh_health_state() -> None:
    old = [T0, 0, 2, "w", [[[20394, 45.0]], 45.0], [["m1", T0]]]  # the 6-item shape
    acct = Account.load(old, lambda: Extra(health=HealthState()))
    assert acct.band == 2 and acct.extra is not None and acct.extra.health is not None
    assert Account.load(old).dump() == old  # no extra state: the dump keeps the old shape


@pytest.mark.parametrize("split", [1, 700, 1500, 2999])
def test_restore_from_dumps_mid_stream_equals_an_uninterrupted_run(split: int) -> None:
    """What a worker restarted from its table does (kill -9): same changes, same explanations."""
    from streams.dev.telemetry import Config, generate

    model = parse_model((DATA / "model.toml").read_text().replace(
        "[health]\n", '[health]\nmilestones = ["Integration Connected"]\nstall_days = 5\n')
        .replace("[health.weights]\n", "[health.weights]\nonboarding = 0.1\n")
        .replace("billing = 0.3", "billing = 0.2"))
    resolver = Resolver()
    evs = [r for line in generate(Config(events=3000, accounts=30, days=40, seed=4, window_days=30))
           for it in parse_message(line)
           if isinstance(r := resolver.route(it) if not isinstance(it, Rejected) else it, ScoredEvent)]
    whole = Scorer(model)
    want = [c for ev in evs for c in whole.handle(ev).changes] + whole.finish()
    first = Scorer(model)
    got = [c for ev in evs[:split] for c in first.handle(ev).changes]
    second = Scorer(model)
    second.load(json.loads(json.dumps(first.dump_meta())),
                {a: json.loads(json.dumps(first.dump_account(a))) for a in first.accounts})
    got += [c for ev in evs[split:] for c in second.handle(ev).changes] + second.finish()
    assert {c.reason for c in want} >= {None, "nps_detractor", "onboarding_stalled"}
    assert [(c.kind, c.reason, c.account, c.from_band, c.to_band, c.at_us, c.score) for c in got] == \
        [(c.kind, c.reason, c.account, c.from_band, c.to_band, c.at_us, c.score) for c in want]
    assert [c.explain for c in got] == [c.explain for c in want]


def _brute_health(evs: list[ScoredEvent], at: int, model: Any) -> float:
    """Health at clock `at` from the account's accepted events, by brute force from the rules."""
    cfg, bucket, w = model.health, model.score.bucket_us, model.score.window_buckets
    live = [e for e in evs if e.ts_us // bucket > at // bucket - w]
    usage = min(100.0, max(0.0, sum(model.weights.get(e.name, 0.0) for e in live)))
    comps: dict[str, float] = {"usage": usage}
    nps = [e for e in evs if e.name == "NPS Submitted" and isinstance(e.properties.get("score"), int)
           and 0 <= e.properties["score"] <= 10]
    if nps:  # the latest by event time; a tie goes to the later arrival
        comps["nps"] = 10.0 * max(enumerate(nps), key=lambda p: (p[1].ts_us, p[0]))[1].properties["score"]
    comps["support"] = max(0.0, 100 - cfg.ticket_penalty * sum(
        1 for e in live if e.name == "Support Ticket Opened"))
    bill = [e for e in evs if e.name in cfg.billing]
    if bill:
        comps["billing"] = cfg.billing[max(enumerate(bill), key=lambda p: (p[1].ts_us, p[0]))[1].name]
    used = {c: cfg.weights[c] for c in comps}
    return sum(used[c] * comps[c] for c in comps) / sum(used.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_every_health_change_equals_a_brute_force_recomputation(seed: int) -> None:
    """Faulty generated telemetry (retries, out-of-order, late): each health band change's score is
    what the rules give from the account's accepted events kept in full."""
    from streams.dev.telemetry import Config, generate

    model = load_model(DATA / "model.toml")
    resolver, scorer = Resolver(), Scorer(model)
    accepted: dict[str, list[ScoredEvent]] = {}
    checked = 0
    for line in generate(Config(events=4000, accounts=25, days=50, seed=seed, window_days=30)):
        for it in parse_message(line):
            ev = resolver.route(it) if not isinstance(it, Rejected) else it
            if not isinstance(ev, ScoredEvent):
                continue
            out = scorer.handle(ev)
            for c in out.changes:
                if c.kind != "health" or c.reason is not None:
                    continue
                mine = list(accepted.get(c.account, []))
                if c.cause == "event" and c.account == ev.account and out.status == "accepted":
                    mine.append(ev)
                assert abs(c.score - _brute_health(mine, c.at_us, model)) <= 1e-9, c
                checked += 1
            if out.status == "accepted":
                accepted.setdefault(ev.account, []).append(ev)
    assert checked >= 30


def test_replay_without_health_writes_only_the_three_files(tmp_path: Path) -> None:
    worked = DATA.parent / "worked"
    proc = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(worked / "events.jsonl"),
                           "--model", str(worked / "model.toml"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.jsonl", "scores.jsonl", "summary.json"]


def test_health_is_rounded_to_9_decimals() -> None:
    # (0.4 x 1 + 0.2 x 100) / (0.4 + 0.2) = 20.4 / 0.6 = 34 exactly; floats give 33.99999999999999
    assert combine({"usage": 1.0, "nps": None, "support": 100.0, "billing": None}, CFG.weights) == 34.0
    # 0.4 x 50 + 0.1 x 70 + 0.2 x 25 + 0.3 x 30 = 20 + 7 + 5 + 9 = 41 over 1.0; 100/3 stays 9 decimals
    assert combine({"usage": 50.0, "nps": 70.0, "support": 25.0, "billing": 30.0}, CFG.weights) == 41.0
    assert combine({"usage": 100 / 3, "nps": None, "support": None, "billing": None},
                   {"usage": 0.4, "nps": 0.1, "support": 0.2, "billing": 0.3}) == 33.333333333
