"""`pulse report` on the hand-written portfolio in tests/data/report/: every expected value below is
worked out by hand in tests/data/report/EXPECTED.md, never by the code under test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.errors import ConfigError
from scoring.model import load_model
from streams.offline.report import build_report, parse_when, render_json, render_markdown

DATA = Path(__file__).resolve().parents[1] / "data" / "report"
NOW = parse_when("2027-01-01")  # after every event of the file (the wall clock would vary)
EVENTS, MODEL = DATA / "events.jsonl", DATA / "model.toml"
TOL = 1e-9


def bands(at_risk: int = 0, red: int = 0, yellow: int = 0, green: int = 0, thriving: int = 0
          ) -> dict[str, int]:
    return {"at_risk": at_risk, "red": red, "yellow": yellow, "green": green, "thriving": thriving}


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return build_report(EVENTS, load_model(MODEL), now_us=NOW)


def test_replay_counts(report: dict[str, Any]) -> None:
    assert report["replay"] == {"accepted": 45, "duplicate": 2, "late": 0, "invalid": 1,
                                "accounts": 9, "changes": 22}
    assert report["accounts"] == 9


def test_band_distribution_per_segment(report: dict[str, Any]) -> None:
    assert report["health_bands"] is None  # the model has no [health]
    assert report["bands"]["all"] == bands(at_risk=1, red=2, yellow=2, green=2, thriving=2)
    assert report["bands"]["by_segment"] == {
        "plan": {"(none)": bands(red=1), "enterprise": bands(yellow=1, thriving=1),
                 "free": bands(red=1, thriving=1), "team": bands(at_risk=1, yellow=1, green=1),
                 "trial": bands(green=1)},
        "industry": {"(none)": bands(red=2), "fintech": bands(yellow=1, thriving=1),
                     "health": bands(green=2), "retail": bands(at_risk=1, yellow=1, thriving=1)},
    }


def test_histogram(report: dict[str, Any]) -> None:
    h = report["histogram"]
    assert [x["count"] for x in h] == [1, 1, 1, 0, 0, 1, 1, 0, 2, 0, 0, 2]
    assert (h[0]["from"], h[0]["to"], h[1]["from"], h[1]["to"]) == (None, 0.0, 0.0, 10.0)
    assert (h[-1]["from"], h[-1]["to"]) == (100.0, None)
    four = build_report(EVENTS, load_model(MODEL), now_us=NOW, bins=4, segments=["plan"])["histogram"]
    assert [(x["from"], x["to"], x["count"]) for x in four] == [
        (None, 0.0, 1), (0.0, 25.0, 2), (25.0, 50.0, 1), (50.0, 75.0, 2), (75.0, 100.0, 1),
        (100.0, None, 2)]


def test_at_risk_list_with_reasons(report: dict[str, Any]) -> None:
    assert report["at_risk"] == [
        {"account": "bolt", "band": "at_risk", "score": -25.0,
         "traits": {"plan": "team", "industry": "retail"},
         "last_change": {"from": "red", "to": "at_risk", "score": -2.0,
                         "at": "2026-11-06T10:00:00+00:00"},
         "score_7d_ago": None, "delta_7d": None, "top_events": None, "health": None,
         "negative_events": [{"event": "Subscription Downgraded", "count": 1, "weight": -20.0},
                             {"event": "Support Ticket Opened", "count": 2, "weight": -3.0}],
         "positive_events": [{"event": "Login", "count": 1, "weight": 1.0}]},
        {"account": "fern", "band": "red", "score": 3.0, "traits": {"plan": "free", "industry": None},
         "last_change": {"from": None, "to": "red", "score": 2.0, "at": "2026-11-10T14:00:00+00:00"},
         "score_7d_ago": None, "delta_7d": None, "top_events": None, "health": None,
         "negative_events": [],
         "positive_events": [{"event": "Page Viewed", "count": 1, "weight": 2.0},
                             {"event": "Login", "count": 1, "weight": 1.0}]},
        {"account": "hive", "band": "red", "score": 16.0, "traits": {"plan": None, "industry": None},
         "last_change": {"from": None, "to": "red", "score": 1.0, "at": "2026-11-03T08:00:00+00:00"},
         "score_7d_ago": None, "delta_7d": None, "top_events": None, "health": None,
         "negative_events": [],
         "positive_events": [{"event": "Teammate Invited", "count": 1, "weight": 10.0},
                             {"event": "Report Exported", "count": 1, "weight": 5.0},
                             {"event": "Login", "count": 1, "weight": 1.0}]},
    ]


def test_with_health_and_explain_the_report_adds_health_bands_and_trends() -> None:
    rep = build_report(EVENTS, load_model(DATA / "model_health.toml"), now_us=NOW)
    # engagement is unchanged by [health]/[explain]
    assert rep["bands"]["all"] == bands(at_risk=1, red=2, yellow=2, green=2, thriving=2)
    # health = 0.5 x clamp(score, 0, 100) + 0.5 x max(0, 100 - 25 x tickets): EXPECTED.md
    def hb(red: int = 0, yellow: int = 0, green: int = 0) -> dict[str, int]:
        return {**bands(red=red, yellow=yellow, green=green), "no health yet": 0}
    assert rep["health_bands"] == {
        "all": hb(red=1, yellow=3, green=5),
        "by_segment": {
            "plan": {"(none)": hb(yellow=1), "enterprise": hb(green=2), "free": hb(yellow=1, green=1),
                     "team": hb(red=1, yellow=1, green=1), "trial": hb(green=1)},
            "industry": {"(none)": hb(yellow=2), "fintech": hb(yellow=1, green=1),
                         "health": hb(green=2), "retail": hb(red=1, green=2)}}}
    got = {a["account"]: (a["score_7d_ago"], a["delta_7d"], a["health"], a["top_events"])
           for a in rep["at_risk"]}
    assert got == {
        "bolt": (-25.0, 0.0, {"score": 25.0, "band": "red"},
                 [{"event": "Subscription Downgraded", "count": 1, "points": -20.0},
                  {"event": "Support Ticket Opened", "count": 2, "points": -6.0},
                  {"event": "Login", "count": 1, "points": 1.0}]),
        "fern": (3.0, 0.0, {"score": 51.5, "band": "yellow"},
                 [{"event": "Page Viewed", "count": 1, "points": 2.0},
                  {"event": "Login", "count": 1, "points": 1.0}]),
        "hive": (6.0, 10.0, {"score": 58.0, "band": "yellow"},
                 [{"event": "Teammate Invited", "count": 1, "points": 10.0},
                  {"event": "Report Exported", "count": 1, "points": 5.0},
                  {"event": "Login", "count": 1, "points": 1.0}])}
    md = render_markdown(rep)
    assert "| all accounts | 0 | 1 | 3 | 5 | 0 | 0 | 9 |" in md.splitlines()
    assert "| hive | red | 16.00 | 6.00 (+10.00) | 58.00 yellow |" in md


def test_pql_candidates(report: dict[str, Any]) -> None:
    assert report["pql"] == [
        {"account": "echo", "plan": "free", "band": "thriving", "score": 101.0},
        {"account": "dune", "plan": "trial", "band": "green", "score": 75.0}]


def assert_kpis(got: dict[str, Any], **want: Any) -> None:
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=TOL), key
        else:
            assert got[key] == value, key


def test_revenue_kpis_over_the_file_span(report: dict[str, Any]) -> None:
    r = report["revenue"]
    assert (r["start"], r["end"]) == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    assert_kpis(r, days=30.0, start_mrr=2000.0, end_mrr=2030.0, new_mrr=80.0, expansion_mrr=300.0,
                contraction_mrr=150.0, churned_mrr=200.0, accounts_at_start=4,
                paying_accounts_at_end=4, churned_accounts=1, churn_rate=0.25,
                monthly_churn_rate=0.25, grr=0.825, nrr=0.975, arpa=507.5, ltv=2030.0,
                trial_accounts=4, converted_trials=1, trial_to_paid=0.25,
                skipped={"bad_mrr": 1, "duplicate": 1})


def test_revenue_kpis_over_a_given_period() -> None:
    rep = build_report(EVENTS, load_model(MODEL), now_us=NOW, start_us=parse_when("2026-11-10"),
                       end_us=parse_when("2026-11-19", end=True))
    r = rep["revenue"]
    assert (r["start"], r["end"]) == ("2026-11-10T00:00:00+00:00", "2026-11-20T00:00:00+00:00")
    assert_kpis(r, days=10.0, start_mrr=1900.0, end_mrr=2280.0, new_mrr=80.0, expansion_mrr=300.0,
                contraction_mrr=0.0, churned_mrr=0.0, accounts_at_start=4, churned_accounts=0,
                churn_rate=0.0, monthly_churn_rate=0.0, grr=1.0, nrr=22 / 19, arpa=456.0, ltv=None,
                trial_accounts=0, trial_to_paid=None)
    # the period moves only the revenue: bands are those at the end of the file
    assert rep["bands"]["all"] == bands(at_risk=1, red=2, yellow=2, green=2, thriving=2)


def test_markdown_shows_the_sections_and_numbers(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    for line in ("| all accounts | 1 | 2 | 2 | 2 | 2 | 9 |",
                 "| team | 1 | 0 | 1 | 1 | 0 | 3 |",
                 "| [70, 80) | 2 |", "| >= 100 | 2 |", "| < 0 | 1 |",
                 "| echo | free | thriving | 101.00 |",
                 "| gross revenue retention (GRR) | 82.5% |",
                 "| net revenue retention (NRR) | 97.5% |",
                 "| LTV (ARPA / monthly churn rate) | 2,030.00 |",
                 "| trial-to-paid | 25.0% (1 of 4 trial accounts) |"):
        assert line in md.splitlines(), line
    assert "red → at_risk at -2.00, 2026-11-06T10:00:00+00:00" in md


def test_bad_period_and_bins_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse_when("last tuesday")
    with pytest.raises(ConfigError):
        build_report(EVENTS, load_model(MODEL), now_us=NOW, start_us=parse_when("2026-11-20"),
                     end_us=parse_when("2026-11-10"))
    with pytest.raises(ConfigError):
        build_report(EVENTS, load_model(MODEL), now_us=NOW, bins=0)


# -- the command, as a user runs it -------------------------------------------------------------
def pulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "report", "--now", "2027-01-01", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_both_files_deterministically(tmp_path: Path, report: dict[str, Any]) -> None:
    for out in ("a", "b"):
        r = pulse(str(EVENTS), "--model", str(MODEL), "--out", str(tmp_path / out))
        assert r.returncode == 0, r.stderr
    for name in ("report.md", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "report.json").read_bytes() == render_json(report)
    assert (tmp_path / "a" / "report.md").read_text("utf-8") == render_markdown(report)
    doc = orjson.loads((tmp_path / "a" / "report.json").read_bytes())
    assert doc["revenue"]["nrr"] == pytest.approx(0.975, abs=TOL)


def test_cli_stdout_markdown_and_json_with_a_period() -> None:
    r = pulse(str(EVENTS), "--model", str(MODEL), "--segment", "industry")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Pulse portfolio report: events.jsonl")
    assert "### band distribution by industry" in r.stdout
    assert "### band distribution by plan" not in r.stdout
    r = pulse(str(EVENTS), "--model", str(MODEL), "--format", "json", "--from", "2026-11-10",
              "--to", "2026-11-19")
    assert r.returncode == 0, r.stderr
    rev = orjson.loads(r.stdout)["revenue"]
    assert rev["nrr"] == pytest.approx(22 / 19, abs=TOL)
    assert rev["ltv"] is None


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[score]\nhalf_life = 3\n")
    r = pulse(str(EVENTS), "--model", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown key" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    r = pulse(str(EVENTS), "--model", str(MODEL), "--from", "someday")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    r = pulse(str(tmp_path / "missing.jsonl"), "--model", str(MODEL))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = pulse(str(EVENTS), "--model", str(MODEL), "--format", "html")
    assert r.returncode == 2 and r.stderr == "error: --format must be md or json, not 'html'\n"
