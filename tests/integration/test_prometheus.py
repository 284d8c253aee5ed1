"""A real Prometheus (Debian's `prometheus` binary) scrapes a real worker and a real notifier.

One pipeline for the module: an isolated worker (its own topic prefix, data dir and web port) on
the real broker, a real `pulse notifier` (its own Redis prefix) delivering to a local webhook
receiver on two channels, `ok` (always 204) and `fail` (always 500, so every delivery is retried
and then dead-lettered), and Prometheus scraping both every second with the project's alert rules
loaded. Events are produced in two phases, so every counter moves between scrapes.

The tests then read Prometheus's HTTP API:
- the worker's counters equal what was produced and what `pulse replay` counts on the same file,
  `pulse_alerts_total` equals the alerts on the topic, `pulse_consumer_lag` is 0 when caught up;
- the notifier's counters equal the alerts it was given;
- every query of the Grafana dashboard (deploy/grafana/dashboards/pulse.json) parses and returns
  data.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scoring.model import load_model
from streams.dev.stack import free_port, stop_child
from streams.dev.telemetry import Config, write
from streams.offline.replay import replay
from tests.integration.stream_harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "pulse.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
SECRET = "whsec_cHVsc2UtcHJvbWV0aGV1cy10ZXN0LWtleQ=="  # base64 of "pulse-prometheus-test-key"
MAX_ATTEMPTS = 2


def prometheus_binary() -> str:
    exe = shutil.which("prometheus")
    if exe is None:
        reason = "the `prometheus` binary is not installed (scripts/bootstrap.sh installs Debian's package)"
        if os.environ.get("CI"):
            pytest.fail(reason + " -- CI must run this test")
        pytest.skip(reason)
    return exe


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll `check()` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Prometheus:
    exe: str
    tmp: Path
    targets: dict[str, str]  # job -> host:port
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                               for job, target in self.targets.items()],
        }
        (self.tmp / "prometheus.yml").write_text(yaml.safe_dump(conf))
        log = (self.tmp / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [self.exe, f"--config.file={self.tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, "Prometheus /-/ready")

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log_tail()
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 20)

    def api(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        return r.status_code, r.json()

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, body = self.api("query", query=expr)
        assert status == 200 and body["status"] == "success", (expr, status, body)
        return body["data"]["result"]

    def values(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, want: float, timeout: float = 60) -> None:
        try:
            wait_until(lambda: self.scalar(expr) == want, timeout, f"{expr} == {want}")
        except AssertionError as exc:
            _, targets = self.api("targets")
            health = [(t["labels"]["job"], t["health"], t["lastError"]) for t in targets["data"]["activeTargets"]]
            raise AssertionError(f"{exc}; got {self.scalar(expr)}; targets {health}") from None

    def log_tail(self) -> str:
        p = self.tmp / "prometheus.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


class _Receiver(BaseHTTPRequestHandler):
    """POST /ok -> 204, POST /fail -> 500. Records the alert ids it accepted."""

    accepted: list[str] = []
    failed: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        alert_id = json.loads(body)["alert_id"]
        if self.path == "/ok":
            self.accepted.append(alert_id)
            self.send_response(204)
        else:
            self.failed.append(alert_id)
            self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the notifier sends 16 at a time per channel; the default backlog is 5
    daemon_threads = True


@dataclass
class Notifier:
    tmp: Path
    pipeline: Pipeline
    redis_url: str
    receiver_port: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        channel = ('[channels.{name}]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/{name}"\n'
                   f'secret = "{SECRET}"\nallow_networks = ["127.0.0.1/32"]\n'
                   'connect_timeout = 5.0\nread_timeout = 5.0\n')
        config = self.tmp / "notifier.toml"
        config.write_text(
            "[notifier]\n"
            f"max_attempts = {MAX_ATTEMPTS}\nbackoff_base_seconds = 0.05\nbackoff_cap_seconds = 0.1\n"
            "default_cooldown_seconds = 0.0\nsend_timeout_seconds = 5.0\nclaim_idle_seconds = 30.0\n\n"
            + channel.format(name="ok", port=self.receiver_port) + "\n"
            + channel.format(name="fail", port=self.receiver_port) + "\n"
            + '[[routes]]\nname = "everything"\nchannels = ["ok", "fail"]\n')
        log = (self.tmp / "notifier.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "notifier", "--config", str(config),
             "--metrics-port", str(self.port), "--redis-prefix", f"{self.pipeline.prefix}notify:",
             "--loglevel", "warning"],
            env={**self.pipeline.env(), "REDIS_URL": self.redis_url}, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "the notifier's /metrics")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, 15)

    def log_tail(self) -> str:
        p = self.tmp / "notifier.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


def notifier_available() -> bool:
    try:
        import streams.cli.notify  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


@dataclass
class Run:
    prom: Prometheus
    pipeline: Pipeline
    produced: int
    replay_summary: dict[str, Any]
    invalid_reasons: dict[str, int]
    accounts: int
    alerts: list[dict[str, Any]]
    dead_letters: int
    notifier: bool
    receiver: type[_Receiver]
    notifier_proc: Notifier | None = None


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    exe = prometheus_binary()
    tmp = tmp_path_factory.mktemp("prometheus")
    # phase 1: generated telemetry with retries, out-of-order, late and malformed events;
    # phase 2: the demo file (a later stretch of history)
    first = tmp / "phase1.jsonl"
    write(Config(events=3000, accounts=40, days=40, seed=11, bad_rate=0.02, late_rate=0.01), first)
    second = ROOT / "examples" / "demo.jsonl"
    both = tmp / "all.jsonl"
    both.write_bytes(first.read_bytes() + second.read_bytes())
    result = replay(both, load_model(None), tmp / "replay")

    receiver = type("Receiver", (_Receiver,), {"accepted": [], "failed": []})
    http = _Server(("127.0.0.1", 0), receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    pipeline = Pipeline(kafka_bootstrap, tmp)
    notifier = Notifier(tmp, pipeline, redis_url, http.server_address[1]) if notifier_available() else None
    targets = {"pulse-worker": f"127.0.0.1:{pipeline.web_port}"}
    if notifier is not None:
        targets["pulse-notifier"] = f"127.0.0.1:{notifier.port}"
    prom = Prometheus(exe, tmp, targets)
    try:
        pipeline.start()
        if notifier is not None:
            notifier.start()
        prom.start()
        consumed = 'sum(pulse_events_total{outcome="consumed"})'
        n1 = pipeline.produce(first)
        pipeline.wait_caught_up()
        prom.wait_value(consumed, n1)
        n2 = pipeline.produce(second)
        pipeline.wait_caught_up()
        prom.wait_value(consumed, n1 + n2)
        alerts = pipeline.alerts()
        if notifier is not None:
            n = len({a["alert_id"] for a in alerts})  # the notifier delivers each alert_id once
            prom.wait_value('sum(pulse_notifier_delivered_total{channel="ok"})', n, timeout=120)
            prom.wait_value('sum(pulse_notifier_dead_lettered_total{channel="fail"})', n, timeout=120)
        yield Run(prom, pipeline, n1 + n2, result.summary, result.invalid_reasons,
                  result.summary["accounts"], alerts, len(pipeline.dead_letters()), notifier is not None,
                  receiver, notifier)
    finally:
        prom.stop()
        if notifier is not None:
            notifier.stop()
        pipeline.stop()
        http.shutdown()


def test_prometheus_sees_the_worker_count_what_was_produced(run: Run) -> None:
    prom, s = run.prom, run.replay_summary
    outcomes = prom.values("sum by (outcome) (pulse_events_total)", "outcome")
    assert outcomes["consumed"] == run.produced  # every record on the events topic, once
    for outcome in ("accepted", "duplicate", "late", "invalid"):
        assert outcomes.get(outcome, 0.0) == s[outcome], (outcome, outcomes, s)
    assert s["duplicate"] > 0 and s["late"] > 0 and s["invalid"] > 0  # the data exercises every outcome
    # every invalid event went to events-dlq, and is counted by its reason
    assert outcomes["invalid"] == run.dead_letters
    reasons = prom.values("sum by (reason) (pulse_events_invalid_total)", "reason")
    assert {k: v for k, v in reasons.items() if v} == {k: float(v) for k, v in run.invalid_reasons.items()}
    # alerts: the counter equals the alerts on the topic, transition by transition
    assert run.alerts
    by_transition: dict[tuple[str, str, str], float] = {}
    for a in run.alerts:
        key = (a["kind"], a["from"], a["to"])
        by_transition[key] = by_transition.get(key, 0.0) + 1
    got = {(r["metric"]["kind"], r["metric"]["from_band"], r["metric"]["to_band"]): float(r["value"][1])
           for r in prom.query("sum by (kind, from_band, to_band) (pulse_alerts_total) > 0")}
    assert got == by_transition
    # the band gauge covers every account the replay scored
    bands = prom.values("sum by (band) (pulse_accounts)", "band")
    assert sum(bands.values()) == run.accounts > 0


def test_prometheus_sees_consumer_lag_drop_to_zero(run: Run) -> None:
    prom, p = run.prom, run.pipeline
    group, topic = p.names.worker_app, p.names.events
    sel = f'pulse_consumer_lag{{group="{group}",topic="{topic}"}}'
    # the lag monitor samples every few seconds: bounded wait for its post-catch-up sample
    lags = wait_until(lambda: (v := prom.values(sel, "partition")) and all(x == 0 for x in v.values()) and v,
                      90, f"{sel} == 0 on every partition")
    assert set(lags) == {str(i) for i in range(p.partitions)}
    statuses = prom.query(f'pulse_consumer_lag_status{{group="{group}",topic="{topic}"}} == 1')
    assert [r["metric"]["partition"] for r in statuses] == ["0"]
    assert statuses[0]["metric"]["status"] in {"OK", "WARN", "STALL", "STOP", "ERR"}


def test_prometheus_loads_and_evaluates_the_alert_rules(run: Run) -> None:
    status, body = run.prom.api("rules")
    assert status == 200
    rules = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}
    assert set(rules) == {"PulseConsumerLagGrowing", "PulseConsumerStalled", "PulseDeadLetterRateHigh",
                          "PulseNoEventsConsumed", "PulseNotifierDeadLetters", "PulseTargetDown"}
    for name, r in rules.items():
        assert r["health"] == "ok", (name, r.get("lastError"))
    # events flowed and both targets answer: these rules have nothing to say
    assert rules["PulseNoEventsConsumed"]["state"] == "inactive"
    assert rules["PulseTargetDown"]["state"] == "inactive"


def test_the_images_healthcheck_and_the_k8s_probe_paths_answer_on_the_real_worker(run: Run) -> None:
    """deploy/Dockerfile's HEALTHCHECK command, run as is against the worker's web port, and the
    probe paths of the StatefulSet (/healthz liveness, /ready readiness)."""
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^\s*CMD (\[.*\])\s*$", text.split("HEALTHCHECK", 1)[1], re.M).group(1))
    assert cmd[0] == "python"
    base = f"http://127.0.0.1:{run.pipeline.web_port}"

    def check(url: str) -> int:
        return subprocess.run([sys.executable, *cmd[1:]], env={**os.environ, "PULSE_HEALTH_URL": url},
                              capture_output=True, timeout=30).returncode

    assert check(f"{base}/healthz") == 0
    assert check(f"{base}/no-such-page") != 0  # the command really fails on an error answer
    assert httpx.get(f"{base}/ready", timeout=10).status_code == 200  # caught up: ready


def test_prometheus_sees_the_notifier_deliver_retry_and_dead_letter(run: Run) -> None:
    if not run.notifier:
        pytest.skip("`pulse notifier` (streams/cli/notify.py) is not in this tree yet")
    prom, n = run.prom, len({a["alert_id"] for a in run.alerts})
    assert prom.values("sum by (channel) (pulse_notifier_delivered_total)", "channel").get("ok") == n
    dead = prom.query("pulse_notifier_dead_lettered_total")
    assert {r["metric"]["channel"]: float(r["value"][1]) for r in dead} == {"fail": n}, dead
    retried = prom.values("sum by (channel) (pulse_notifier_retried_total)", "channel")
    assert retried == {"fail": n * (MAX_ATTEMPTS - 1)}
    assert sorted(run.receiver.accepted) == sorted({a["alert_id"] for a in run.alerts})
    assert prom.scalar('sum(pulse_notifier_delivery_seconds_count{channel="ok"})') == n


def dashboard_targets() -> list[tuple[str, str]]:
    d = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in d["panels"] if p["type"] != "row" for t in p["targets"]]


NOTIFIER_PANELS = {"Notifier deliveries by channel (per s)", "Notifier delivery latency (p50 / p99)"}


@pytest.mark.parametrize(("title", "expr"), dashboard_targets(), ids=[e for _, e in dashboard_targets()])
def test_dashboard_query_parses_and_returns_data(run: Run, title: str, expr: str) -> None:
    if title in NOTIFIER_PANELS and not run.notifier:
        pytest.skip("`pulse notifier` is not in this tree yet: notifier panels not checked for data")
    status, body = run.prom.api("query", query=expr)
    assert status == 200 and body["status"] == "success", (title, expr, body)
    result = body["data"]["result"]
    assert result, f"panel {title!r}: {expr} returned no series"
    print(f"\n{title}: {expr} -> {[(r['metric'], r['value'][1]) for r in result][:6]}")
    if title.startswith("Throughput"):  # the counter moved between scrapes: a real rate, not a zero
        consumed = [float(r["value"][1]) for r in result if r["metric"].get("outcome") == "consumed"]
        assert consumed and consumed[0] > 0 and math.isfinite(consumed[0]), result


def test_a_broken_query_is_rejected_by_prometheus(run: Run) -> None:
    """The parse check above can fail: Prometheus answers 400 bad_data to a bad expression."""
    status, body = run.prom.api("query", query="sum by (outcome (rate(pulse_events_total[5m]))")
    assert status == 400 and body["errorType"] == "bad_data"


def test_last_a_stopped_notifier_makes_the_target_down_alert_pending(run: Run) -> None:
    """Runs last (it stops the notifier): the real rule reacts to a real dead target."""
    if not run.notifier_proc:
        pytest.skip("`pulse notifier` is not in this tree yet")
    run.notifier_proc.stop()
    prom = run.prom
    prom.wait_value('up{job="pulse-notifier"}', 0, timeout=60)

    def pending() -> list[dict[str, Any]]:
        _, body = prom.api("alerts")
        return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == "PulseTargetDown"]

    (alert,) = wait_until(pending, 30, "PulseTargetDown pending")
    assert alert["labels"]["job"] == "pulse-notifier" and alert["state"] == "pending"  # `for: 2m`
    assert prom.scalar('up{job="pulse-worker"}') == 1
