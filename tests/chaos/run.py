"""One chaos run: private stack, generated events, worker + notifier + failing receivers, faults
at seeded points, then the verdict (tests/chaos/verdict.py). See docs/chaos.md."""

from __future__ import annotations

import asyncio
import base64
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from redis import Redis

import scoring
from scoring.model import load_model
from streams.dev.stack import free_port
from streams.dev.telemetry import Config as GenConfig
from streams.dev.telemetry import generate
from streams.kafka import PartitionLag, records_left
from streams.notify.keys import Keys
from streams.topics import TopicNames, create_topics
from tests.chaos import verdict
from tests.chaos.procs import Child, Producer, env_for, read_topic, sample_offsets, wait_ready
from tests.chaos.sinks import Sinks
from tests.chaos.stack import PrivateStack
from tests.integration.stream_harness import core_run, expected_alerts

PREFIX = "chaos."
REDIS_PREFIX = "chaos:"
SECRET = "whsec_" + base64.b64encode(b"pulse-chaos-signing-key-0123456789").decode()


@dataclass
class ChaosConfig:
    events: int = 500_000
    accounts: int = 1_000
    days: int = 90
    seed: int = 1
    worker_kills: int = 3
    broker_restarts: int = 1
    redis_restarts: int = 1
    notifier_kills: int = 1
    fail_rate: float = 0.3
    lead: int = 40_000            # the producer stays at most this far ahead of the worker
    session_timeout: float = 10.0
    static_membership: bool = True
    guarantee: str | None = None  # PULSE_WORKER_PROCESSING_GUARANTEE for the worker (None: its default)
    stall_seconds: float = 1.5
    outage_seconds: float = 3.0   # how long the broker / Redis stay down
    timeout: float = 1800.0
    worker_stall_seconds: float = 90.0  # no committed progress this long while records wait: a stall
    route_to: tuple[str, ...] | None = ("at_risk", "red")  # bands routed to the channels (None: all)
    worker_loglevel: str = "warning"  # info also shows Faust's "Discarded commit for revoked partitions"


def schedule(cfg: ChaosConfig) -> list[tuple[float, str]]:
    """Seeded fault points, as fractions of the input the worker has committed."""
    rnd = random.Random(cfg.seed)
    faults = [(rnd.uniform(0.08, 0.9), "worker_kill") for _ in range(cfg.worker_kills)]
    faults += [(rnd.uniform(0.25, 0.75), "broker_restart") for _ in range(cfg.broker_restarts)]
    faults += [(rnd.uniform(0.15, 0.85), "redis_restart") for _ in range(cfg.redis_restarts)]
    faults += [(rnd.uniform(0.15, 0.85), "notifier_kill") for _ in range(cfg.notifier_kills)]
    return sorted((round(f, 3), k) for f, k in faults)


def notifier_toml(sinks: Sinks, claim_idle: float, stall: float, route_to: tuple[str, ...] | None) -> str:
    timeout = round(min(0.5, stall / 2), 3)  # a stall is always past the client's timeout
    return (f'[notifier]\nredis_prefix = "{REDIS_PREFIX}"\nmax_attempts = 40\nbackoff_base_seconds = 0.05\n'
            f'backoff_cap_seconds = 0.5\nsend_timeout_seconds = 3.0\nclaim_idle_seconds = {claim_idle}\n'
            'default_cooldown_seconds = 0\npoll_seconds = 0.05\nconcurrency = 16\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:{sinks.webhook_port}/alerts"\n'
            f'secret = "{SECRET}"\nallow_networks = ["127.0.0.1/32"]\nconnect_timeout = 1.0\n'
            f'read_timeout = {timeout}\n'
            f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {sinks.smtp_port}\n'
            'from = "pulse@chaos.local"\nto = ["team@chaos.local"]\nstarttls = false\n'
            f'timeout = {timeout}\n'
            '[[routes]]\nname = "chaos"\nchannels = ["hook", "mail"]\n'
            + ("" if route_to is None else f'to = {list(route_to)!r}\n'.replace("'", '"')))


class Run:
    def __init__(self, cfg: ChaosConfig, workdir: Path, say: Any = print) -> None:
        self.cfg, self.dir, self.say = cfg, workdir, say
        self.stack = PrivateStack(workdir / "stack")
        self.names = TopicNames(PREFIX)
        self.web_port = free_port()
        self.samples: list[dict[str, Any]] = []
        self.events_log: list[dict[str, Any]] = []
        self.kills: list[dict[str, Any]] = []
        self.progress = 0
        self.t0 = time.monotonic()
        self.claim_idle = 4.0
        self.stalls: list[dict[str, Any]] = []

    def t(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    # -- set up -------------------------------------------------------------------------
    def _children(self, sinks: Sinks) -> tuple[Child, Child]:
        base = self.stack.env()
        wenv = {"PULSE_TOPIC_PREFIX": PREFIX, "PULSE_DATA_DIR": str(self.dir / "data"),
                "PULSE_WORKER_SESSION_TIMEOUT": str(self.cfg.session_timeout),
                "PULSE_WORKER_HEARTBEAT_INTERVAL": str(max(0.5, self.cfg.session_timeout / 10))}
        if self.cfg.static_membership:
            wenv["PULSE_WORKER_INSTANCE_ID"] = "chaos-worker-0"
        if self.cfg.guarantee:
            wenv["PULSE_WORKER_PROCESSING_GUARANTEE"] = self.cfg.guarantee
        worker = Child("worker", ["worker", "--partitions", "1", "--web-port", str(self.web_port),
                                  "--loglevel", self.cfg.worker_loglevel], env_for(base, wenv),
                       self.dir / "worker.log")
        cfg = self.dir / "notifier.toml"
        cfg.write_text(notifier_toml(sinks, self.claim_idle, self.cfg.stall_seconds, self.cfg.route_to))
        notifier = Child("notifier", ["notifier", "--config", str(cfg), "--metrics-port", "0",
                                      "--loglevel", "info"],  # every failed attempt, for the verdict
                         env_for(base, {"PULSE_TOPIC_PREFIX": PREFIX}), self.dir / "notifier.log")
        return worker, notifier

    def sample(self) -> None:
        lags = sample_offsets(self.stack.bootstrap, self.names.worker_app, [self.names.events, self.names.scored])
        if not lags:
            return
        committed = {f"{x.topic}[{x.partition}]": x.committed for x in lags if x.committed is not None}
        self.samples.append({"t": self.t(), "committed": committed,
                             "end": {f"{x.topic}[{x.partition}]": x.end for x in lags}})
        ev = [x.committed or 0 for x in lags if x.topic == self.names.events]
        self.progress = max(self.progress, sum(ev))

    # -- faults -------------------------------------------------------------------------
    def fault(self, kind: str, worker: Child, notifier: Child, sinks: Sinks) -> dict[str, Any]:
        at = {"fault": kind, "t": self.t(), "progress": self.progress}
        if kind == "worker_kill":
            last = self.samples[-1]["committed"] if self.samples else {}
            worker.kill9()
            t_kill = time.monotonic()
            worker.start()
            r = None
            while r is None and time.monotonic() - t_kill < 240:
                r = wait_ready(self.web_port, 0.5)
                self._tick(worker, notifier, 0)
            at["ready_after_kill_s"] = None if r is None else round(time.monotonic() - t_kill, 2)
            self.kills.append({"t": at["t"], "committed": last})
        elif kind == "notifier_kill":
            before = sinks.webhook.requests + sinks.email.requests
            deadline = time.monotonic() + 30
            while sinks.webhook.requests + sinks.email.requests == before and time.monotonic() < deadline:
                time.sleep(0.01)  # kill it while it is sending
            at["in_flight"] = sinks.webhook.requests + sinks.email.requests > before
            notifier.kill9()
            t_kill = time.monotonic()
            notifier.start()
            n0 = sum(sinks.idle_keys())
            while sum(sinks.idle_keys()) == n0 and time.monotonic() - t_kill < 120:
                self._tick(worker, notifier, 0.1)  # a crash on restart is restarted, and counted
            at["delivering_again_after_s"] = round(time.monotonic() - t_kill, 2)
        else:
            service = "kafka" if kind == "broker_restart" else "redis"
            self.stack.kill(service)
            time.sleep(self.cfg.outage_seconds)
            at["back_after_start_s"] = round(self.stack.start(service), 2)
            at["down_s"] = round(self.cfg.outage_seconds + at["back_after_start_s"], 2)
            if service == "kafka":
                last = self.samples[-1]["committed"] if self.samples else {}
                self.kills.append({"t": at["t"], "committed": last})
                r = wait_ready(self.web_port, 240)
                at["worker_ready_after_broker_back_s"] = r
        self.say(f"[chaos {self.t():7.1f}s] {kind} at {at['progress']:,} committed: "
                 f"{ {k: v for k, v in at.items() if k not in ('fault', 't', 'progress')} }")
        return at

    def _tick(self, worker: Child, notifier: Child, pause: float) -> None:
        """While a fault handler waits: keep the offset samples (and the producer's pace) going,
        and restart a crashed child (counted)."""
        if time.monotonic() - getattr(self, "_last_sample", 0.0) > 0.5:
            self._last_sample = time.monotonic()
            self.sample()
        worker.check()
        notifier.check()
        time.sleep(pause)

    # -- the run ------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        cfg = self.cfg
        gen = GenConfig(events=cfg.events, accounts=cfg.accounts, days=cfg.days, seed=cfg.seed)
        lines = [ln for ln in generate(gen) if ln.strip()]
        self.say(f"[chaos] {len(lines):,} lines generated; starting a private broker and Redis in {self.dir}")
        self.stack.up()
        create_topics(self.stack.settings.model_copy(update={"topic_prefix": PREFIX}), 1)
        sinks = Sinks(cfg.seed, cfg.fail_rate, cfg.stall_seconds).start()
        worker, notifier = self._children(sinks)
        started_iso = datetime.now(UTC).isoformat()
        worker.start()
        notifier.start()
        wait_ready(self.web_port, 240)
        producer = Producer(lines, self.stack.bootstrap, self.names.events, cfg.lead, lambda: self.progress)
        producer.start()
        faults = schedule(cfg)
        self.say(f"[chaos] faults (fraction of the input committed): {faults}")
        t_start = time.monotonic()
        try:
            self._loop(faults, lines, worker, notifier, sinks, producer)
            t_flow = time.monotonic() - t_start
            self._drain(sinks, worker, notifier)
            t_all = time.monotonic() - t_start
            return self._verdict(lines, worker, notifier, sinks, producer, started_iso,
                                 {"flow_s": round(t_flow, 1), "until_delivered_s": round(t_all, 1)})
        finally:
            worker.stop()
            notifier.stop()
            sinks.stop()
            self.stack.down()

    def _loop(self, faults: list[tuple[float, str]], lines: list[bytes], worker: Child, notifier: Child,
              sinks: Sinks, producer: Producer) -> None:
        deadline = time.monotonic() + self.cfg.timeout
        todo = list(faults)
        n = len(lines)
        seen, moved = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.sample()
            worker.check()
            notifier.check()
            if self.progress != seen:
                seen, moved = self.progress, time.monotonic()
            elif time.monotonic() - moved > self.cfg.worker_stall_seconds and self._behind():
                self._unstall(worker, notifier)  # fails the verdict; the rest of the run goes on
                moved = time.monotonic()
            if todo and self.progress >= todo[0][0] * n:
                _, kind = todo.pop(0)
                self.events_log.append(self.fault(kind, worker, notifier, sinks))
                continue
            if producer.done.is_set() and not todo and self.samples:
                s = self.samples[-1]
                if all(s["committed"].get(k) == e for k, e in s["end"].items() if e > 0):
                    return
                if self._eos and self._markers_only(self.names.worker_app, [self.names.events, self.names.scored]):
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the worker did not catch up within {self.cfg.timeout} s")

    @property
    def _eos(self) -> bool:
        return self.cfg.guarantee == "exactly_once"

    def _markers_only(self, group: str, topics: list[str]) -> bool:
        """Under exactly-once: the group's lag is only transaction markers (no record left to read)."""
        lags = sample_offsets(self.stack.bootstrap, group, topics)
        if not lags or any(x.lag < 0 or x.lag > 10_000 for x in lags if x.end > 0):
            return False
        try:
            return asyncio.run(asyncio.wait_for(records_left(self.stack.bootstrap, lags), 20)) == 0
        except Exception:
            return False

    def _behind(self) -> bool:
        s = self.samples[-1] if self.samples else None
        return bool(s) and any(s["committed"].get(k, 0) < e for k, e in s["end"].items())  # type: ignore[index]

    def _unstall(self, worker: Child, notifier: Child) -> None:
        """The worker's committed offset has not moved for `worker_stall_seconds` while records wait: a
        stall (the regression the offsets check is about). Recorded with the worker's own count
        of consumed events, then the worker is killed and restarted so the run can finish."""
        s = self.samples[-1]
        metrics = _scrape(self.web_port)
        consumer = _consumer_view(self.web_port)
        dump = self.dir / f"stall-{len(self.stalls) + 1}.pyspy.txt"
        _pyspy(worker, dump)
        self.stalls.append({"t": self.t(), "committed": s["committed"], "end": s["end"],
                            "stalled_for_s": self.cfg.worker_stall_seconds, "worker_metrics": metrics,
                            "bookkeeping": consumer.get("partitions"), "stack_dump": dump.name})
        self.say(f"[chaos {self.t():7.1f}s] WORKER STALLED: committed {s['committed']} of {s['end']}, "
                 f"{metrics}, bookkeeping {consumer.get('partitions')}; stacks in {dump}; restarting it")
        worker.kill9()
        worker.start()
        wait_ready(self.web_port, 240)

    def _drain(self, sinks: Sinks, worker: Child, notifier: Child) -> None:
        """Until the notifier has committed every alert, nothing is queued or in backoff, and the
        receivers saw nothing new for longer than the re-claim delay (a late duplicate shows)."""
        keys = Keys(REDIS_PREFIX)
        r = Redis.from_url(self.stack.redis_url, decode_responses=True)
        quiet_since, last = time.monotonic(), sinks.idle_keys()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            self._tick(worker, notifier, 0.5)
            now = sinks.idle_keys()
            if now != last:
                quiet_since, last = time.monotonic(), now
            lags = sample_offsets(self.stack.bootstrap, self.names.notifier_group, [self.names.alerts]) or []
            try:
                queued = sum(r.xlen(keys.stream(c)) + r.zcard(keys.retry(c)) for c in ("hook", "mail"))
            except Exception:
                continue
            committed = bool(lags) and all(x.lag == 0 for x in lags if x.end > 0)
            if not committed and self._eos:
                committed = self._markers_only(self.names.notifier_group, [self.names.alerts])
            if committed and queued == 0 and time.monotonic() - quiet_since > self.claim_idle + 3:
                return
        raise TimeoutError("the notifier did not drain")

    def _verdict(self, lines: list[bytes], worker: Child, notifier: Child, sinks: Sinks, producer: Producer,
                 started_iso: str, timing: dict[str, float]) -> dict[str, Any]:
        b = self.stack.bootstrap
        log = asyncio.run(read_topic(b, self.names.events))
        inp = self.dir / "input.jsonl"
        inp.write_bytes(b"".join(v + b"\n" for _p, _o, v in sorted(log, key=lambda x: x[:2])))
        env = env_for(self.stack.env(), {"PULSE_TOPIC_PREFIX": PREFIX, "PULSE_DATA_DIR": str(self.dir / "data")})
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(inp), "--out", str(self.dir / "replay"),
                        "--now", started_iso, "--no-progress"], env=env, check=True, capture_output=True)
        replay_s = time.monotonic() - t0
        subprocess.run([sys.executable, "-m", "streams.cli", "scores", "export", str(self.dir / "export.jsonl")],
                       env=env, check=True, capture_output=True)
        replay_scores = [orjson.loads(x) for x in (self.dir / "replay" / "scores.jsonl").read_bytes().splitlines()]
        export = [orjson.loads(x) for x in (self.dir / "export.jsonl").read_bytes().splitlines()]
        _scores, changes, _end = core_run(inp, load_model(None), now_us=_iso_us(started_iso))
        want = expected_alerts(changes)
        # under exactly-once, what a read_committed consumer of the outputs sees (aborted batches left out)
        iso = "read_committed" if self._eos else "read_uncommitted"
        topic = [orjson.loads(v) for _p, _o, v in asyncio.run(read_topic(b, self.names.alerts, iso))]
        dlq = [orjson.loads(v) for _p, _o, v in asyncio.run(read_topic(b, self.names.dlq, iso))]
        final = sample_offsets(b, self.names.worker_app, [self.names.events, self.names.scored]) or []
        markers: list[str] = []
        if self._eos:  # a transactional topic ends with a commit marker: an offset, no record
            markers = [f"{x.topic}[{x.partition}]" for x in final
                       if x.lag > 0 and asyncio.run(records_left(b, [x])) == 0]
            final = [PartitionLag(x.group, x.topic, x.partition, x.end, x.end)
                     if f"{x.topic}[{x.partition}]" in markers else x for x in final]
        redis = Redis.from_url(self.stack.redis_url, decode_responses=True)
        notifier_dlq = redis.xlen(Keys(REDIS_PREFIX).dlq())
        route = self.cfg.route_to
        want_ids = {a["alert_id"] for a in want if route is None or a["to"] in route}
        checks = {
            "scores": verdict.scores_check(export, replay_scores),
            "alerts_topic": verdict.alerts_check(topic, want),
            "deliveries": [verdict.delivery_check("hook (webhook)", sinks.webhook, want_ids,
                                                  self._after(sinks.webhook.repeat_at)),
                           verdict.delivery_check("mail (smtp)", sinks.email, want_ids,
                                                  self._after(sinks.email.repeat_at))],
            "dead_letters": verdict.dead_letters_check(log, dlq),
            "notifier_dead_letters": {"count": notifier_dlq, "ok": notifier_dlq == 0},
            "crashes": {"count": len(worker.crashes) + len(notifier.crashes) + len(self._stack_crashes()),
                        "details": worker.crashes + notifier.crashes + self._stack_crashes()},
            "offsets": verdict.offsets_check(self.samples, self.kills, final),
        }
        checks["offsets"]["stalls"] = self.stalls
        if self._eos:
            # only transaction markers between committed and end (counted as at the end)
            checks["offsets"]["markers_only_at_end"] = markers
            # exactly-once's promise: a read_committed consumer sees each alert and dead letter once
            checks["alerts_topic"]["ok"] = checks["alerts_topic"]["ok"] and \
                checks["alerts_topic"]["repeated_on_topic"] == 0
            checks["dead_letters"]["ok"] = checks["dead_letters"]["ok"] and checks["dead_letters"]["repeated"] == 0
        checks["offsets"]["ok"] = checks["offsets"]["ok"] and not self.stalls
        checks["crashes"]["ok"] = checks["crashes"]["count"] == 0
        checks["redelivery_examples"] = self._why_again(sinks)
        lost = checks["alerts_topic"]["lost"] + sum(d["lost"] for d in checks["deliveries"])
        doubled = sum(d["doubled"] for d in checks["deliveries"])
        redelivered = sum(d["redelivered_same_key"] for d in checks["deliveries"])
        oks = [c["ok"] for k, c in checks.items() if k not in ("deliveries", "redelivery_examples")]
        oks += [d["ok"] for d in checks["deliveries"]]
        kills = [e for e in self.events_log if e["fault"] == "worker_kill"]
        return {
            "verdict": "pass" if all(oks) and producer.error is None else "FAIL",
            "lost": lost, "doubled": doubled, "redelivered_same_key": redelivered, "crashes": checks["crashes"]["count"],
            "ready_after_kill_s": [k["ready_after_kill_s"] for k in kills],
            "config": asdict(self.cfg), "scoring": scoring.IMPLEMENTATION,
            "input": {"generated_lines": len(lines), "records_in_log": len(log),
                      "resent_chunks": producer.resent_chunks, "producer_error": producer.error},
            "timing": {**timing, "replay_s": round(replay_s, 1)},
            "faults": self.events_log, "checks": checks,
        }

    def _after(self, times: list[float]) -> list[dict[str, Any]]:
        """For each repeated delivery: the last fault before it ("none" if there was none)."""
        out = []
        for m in times:
            t = m - self.t0
            prior = [e for e in self.events_log if e["t"] <= t]
            out.append({"t": round(t, 1), "after": prior[-1]["fault"] if prior else "none"})
        return out

    def _why_again(self, sinks: Sinks) -> list[dict[str, Any]]:
        """For a few alerts a receiver accepted twice under one key: the notifier's log lines about
        them (each failed attempt is logged with its error; a send that timed out after the
        receiver had accepted it shows as a timeout)."""
        log = (self.dir / "notifier.log").read_text(errors="replace").splitlines()
        out = []
        for name, led in (("hook", sinks.webhook), ("mail", sinks.email)):
            for key in list(led.duplicates)[:3]:
                aid = led.accepted[key]
                out.append({"channel": name, "alert_id": aid,
                            "log": [ln[:220] for ln in log if aid in ln][:6]})
        return out

    def _stack_crashes(self) -> list[dict[str, Any]]:
        return [{"process": s, "returncode": None} for s in ("kafka", "redis") if not self.stack.alive(s)]


def _scrape(port: int) -> dict[str, float]:
    """The worker's consumed/accepted event counters from its /metrics (empty if unreachable)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines()
            if ln.startswith("pulse_events_total")}


def _consumer_view(port: int) -> dict[str, Any]:
    """The worker's /pulse/consumer (its commit bookkeeping per partition; empty if unreachable)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/pulse/consumer", timeout=3) as r:
            return dict(orjson.loads(r.read()))
    except OSError:
        return {}


def _pyspy(child: Any, out: Path) -> None:
    """Every thread's and task's stack of the running worker (py-spy dump), for a stall's record."""
    if child.proc is None:
        return
    spy = Path(sys.executable).parent / "py-spy"
    try:
        r = subprocess.run([str(spy), "dump", "--locals", "--pid", str(child.proc.pid)], capture_output=True,
                           timeout=60, text=True)
        out.write_text(r.stdout + r.stderr)
    except (OSError, subprocess.TimeoutExpired) as exc:
        out.write_text(f"py-spy failed: {exc!r}\n")


def _iso_us(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000)
