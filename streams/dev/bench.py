"""`pulse bench stream`: the Pulse pipeline against a plain aiokafka loop, same broker, same events.

One run, printed as JSON:
1. generate N events over K accounts (streams.dev.telemetry) and produce them to a fresh topic;
2. baseline: a plain aiokafka consume loop doing orjson + a weighted sum per account; and the
   Faust floor: a Faust agent that only reads the same topic with take_events (streams/dev/faust_floor.py),
   on stock Faust and on the worker's transport (streams/worker/transport.py, coalesced delivery);
3. pipeline: a `pulse worker` subprocess on a fresh prefix, from its start until the broker shows
   its consumer group caught up on `events` and `scored` (events in -> state committed);
4. latency: at a steady rate (default 5,000 events/s), the time from producing an event to
   reading the band change it causes on `alerts` (p50, p99).

With `dashboard=True` a `pulse dashboard` follows the same pipeline (same prefix, so the same
account-state changelog and `alerts`) during 3 and 4: the changelog topic is created first (as
the worker would: compacted, same partitions), the dashboard is started and waited for until it
is ready, then the worker starts. Comparing `pipeline_records_per_s` of runs with and without it
is the dashboard's cost to the worker on this machine (both share its cores); the JSON's
`dashboard` says what it had derived and how far behind it was when the worker caught up, its CPU
seconds from the worker's start to then, and how long it took to catch up after. `floors=False`
skips step 2 (and the Quix baselines), for before/after runs that need only the pipeline figure.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from scoring.model import load_model
from streams.dev.bench_variants import figures, outputs, ratios, run_variant, variants
from streams.dev.produce import produce_file
from streams.dev.stack import stop_child
from streams.dev.telemetry import Config, write
from streams.kafka import OffsetReader, ensure_topics, kafka_auth, try_group_lag, wait_caught_up
from streams.settings import Settings, child_env
from streams.topics import TopicNames, create_topics

BENCH_MODEL = """
[score]
window_days = 30
[weights]
"Login" = 1
"Feature Used" = 0.5
"Report Exported" = 5
"Teammate Invited" = 10
"Support Ticket Opened" = -3
"Probe" = 100
"""


async def baseline(bootstrap: str, topic: str, n: int, weights: dict[str, float]) -> float:
    """Seconds for a plain aiokafka loop to consume n records: orjson + weighted sum per account."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=16 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024, **kafka_auth())
    await consumer.start()
    scores: dict[str, float] = {}
    seen = 0
    started = time.perf_counter()
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20000)
            for records in batches.values():
                for r in records:
                    seen += 1
                    try:
                        d = orjson.loads(r.value)
                    except orjson.JSONDecodeError:
                        continue
                    if not isinstance(d, dict):
                        continue
                    ctx = d.get("context")
                    acct = (ctx.get("groupId") if isinstance(ctx, dict) else None) or d.get("userId")
                    if isinstance(acct, str):
                        scores[acct] = scores.get(acct, 0.0) + weights.get(str(d.get("event")), 0.0)
    finally:
        await consumer.stop()
    return time.perf_counter() - started


def count_events(path: Path) -> tuple[int, int]:
    """(records, events): a batch envelope is one record of several events."""
    records = events = 0
    with path.open("rb") as f:
        for line in f:
            records += 1
            if line.startswith(b'{"batch"'):
                d = orjson.loads(line)
                events += len(d["batch"]) if isinstance(d.get("batch"), list) else 1
            else:
                events += 1
    return records, events


def faust_floor(bootstrap: str, names: TopicNames, n: int, *, pulse: bool = False) -> int | None:
    """Records/s of a Faust agent that only reads `events` with take_events (streams/dev/faust_floor.py):
    on stock Faust, or (`pulse`) on the worker's transport with coalesced delivery."""
    mode = ["--transport", "pulse", "--coalesce"] if pulse else ["--transport", "stock"]
    app_id = f"{names.floor_app}-pulse" if pulse else names.floor_app  # each its own consumer group
    cmd = [sys.executable, "-m", "streams.dev.faust_floor", "--bootstrap", bootstrap, "--topic", names.events,
           "--app-id", app_id, "--records", str(n), *mode]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    for line in (out.stdout + out.stderr).splitlines():
        if "records_per_s" in line:
            return int(orjson.loads(line[line.index("{"):])["records_per_s"])
    return None


def start_worker(s: Settings, model_path: Path, partitions: int, log: Path,
                 guarantee: str = "at_least_once") -> subprocess.Popen[bytes]:
    env = child_env(KAFKA_BOOTSTRAP=s.bootstrap, PULSE_TOPIC_PREFIX=s.topic_prefix,
                    PULSE_DATA_DIR=str(s.data_dir), PULSE_WORKER_PROCESSING_GUARANTEE=guarantee)
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker", "--model", str(model_path),
                             "--partitions", str(partitions), "--web-port", "0", "--loglevel", "warning"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def pipeline(s: Settings, group: str | None = None,
                   topics: list[str] | None = None) -> tuple[float, float]:
    """(seconds from start to the group's first commit on `events`, seconds from then until the
    group has caught up on every topic of the job). Default: the Pulse worker's group and topics."""
    names = TopicNames.from_settings(s)
    group = group or names.worker_app
    topics = topics or [names.events, names.scored]
    t0 = time.perf_counter()
    first = None
    while first is None:
        lags = await try_group_lag(s.bootstrap, group, [names.events]) or []
        if any((x.committed or 0) > 0 for x in lags):
            first = time.perf_counter()
        else:
            await asyncio.sleep(0.2)
    await wait_caught_up(s.bootstrap, group, topics, timeout=3600)
    return first - t0, time.perf_counter() - first


async def topic_sizes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Records on each topic (sum of its partitions' end offsets; the topics are fresh)."""
    async with OffsetReader(bootstrap) as reader:
        ends = await reader.end_offsets(topics)
    return {t: sum(n for tp, n in ends.items() if tp.topic == t) for t in topics}


def quix_floor(bootstrap: str, topic: str, n: int) -> int | None:
    """Records/s of a Quix Streams app that only consumes `topic` (streams/dev/quix_job.py floor)."""
    cmd = [sys.executable, "-m", "streams.dev.quix_job", "floor", "--bootstrap", bootstrap, "--topic", topic,
           "--records", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    for line in (out.stdout + out.stderr).splitlines():
        if "records_per_s" in line:
            return int(orjson.loads(line[line.index("{"):])["records_per_s"])
    return None


def quix_job(s: Settings, partitions: int, weights: dict[str, float], work: Path) -> float:
    """Seconds for the Quix Streams job like for like (streams/dev/quix_job.py job), timed as the
    worker is: from its group's first commit on `events` until caught up on events and its
    repartition topic."""
    names = TopicNames.from_settings(s)
    group = names.quix_group
    cmd = [sys.executable, "-m", "streams.dev.quix_job", "job", "--bootstrap", s.bootstrap,
           "--topic", names.events, "--group", group, "--prefix", names.prefix,
           "--partitions", str(partitions), "--weights", orjson.dumps(weights).decode(),
           "--state-dir", str(work / "quix-state")]
    proc = subprocess.Popen(cmd, stdout=(work / "quix.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        _, secs = asyncio.run(pipeline(s, group, [names.events, names.quix_scored]))
    finally:
        stop_child(proc, 60)
    return secs


async def latency(s: Settings, rate: float, seconds: float, accounts: int,
                  warmup: float = 0.0) -> dict[str, Any]:
    """Produce at `rate` events/s; every 20th event is a probe pair's second half, which moves a
    fresh account from red to thriving; measure produce -> alert read. The first `warmup` seconds
    run at the same rate but their probes are reported apart (`warmup_*`): after the bench's
    generated history, the first live event moves the scoring clock to now, and the sweeps that
    catch up take seconds of the worker's CPU, once (docs/benchmarks.md)."""
    names = TopicNames.from_settings(s)
    consumer = AIOKafkaConsumer(names.alerts, bootstrap_servers=s.bootstrap, auto_offset_reset="latest",
                                **kafka_auth(s))
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap, linger_ms=5, **kafka_auth(s))
    await producer.start()
    sent_at: dict[str, float] = {}
    warm: set[str] = set()  # probes sent during the warm-up
    got: list[float] = []
    got_warm: list[float] = []

    async def reader() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for r in records:
                    a = orjson.loads(r.value)
                    t = sent_at.get(a["account"])
                    if t is not None and a["to"] == "thriving":
                        (got_warm if a["account"] in warm else got).append(now - t)

    task = asyncio.create_task(reader())
    loop = asyncio.get_running_loop()
    start = loop.time()
    i = 0
    run = uuid.uuid4().hex[:6]
    while loop.time() - start < warmup + seconds:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if i % 20 == 0:
            acct = f"probe-{run}-{i}"
            for name in ("Login", "Probe"):
                await producer.send(names.events, orjson.dumps(
                    {"type": "track", "event": name, "userId": acct, "timestamp": ts}), key=acct.encode())
            sent_at[acct] = time.perf_counter()
            if loop.time() - start < warmup:
                warm.add(acct)
        else:
            u = f"u{i % accounts}"
            await producer.send(names.events, orjson.dumps(
                {"type": "track", "event": "Feature Used", "userId": u, "context": {"groupId": f"lat-{u}"},
                 "timestamp": ts}), key=u.encode())
        i += 1
        ahead = i / rate - (loop.time() - start)
        if ahead > 0:
            await asyncio.sleep(ahead)
    await producer.flush()
    deadline = loop.time() + 30
    while len(got) + len(got_warm) < len(sent_at) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    task.cancel()
    await producer.stop()
    await consumer.stop()
    got.sort()
    got_warm.sort()

    def pct(xs: list[float], q: float) -> float | None:
        return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1) if xs else None

    return {"rate_events_per_s": rate, "seconds": seconds, "probes": len(sent_at) - len(warm),
            "alerts_seen": len(got), "p50_ms": pct(got, 0.50), "p99_ms": pct(got, 0.99),
            "max_ms": pct(got, 1.0),
            "warmup_seconds": warmup, "warmup_probes": len(warm), "warmup_alerts_seen": len(got_warm),
            "warmup_p50_ms": pct(got_warm, 0.50), "warmup_p99_ms": pct(got_warm, 0.99),
            "warmup_max_ms": pct(got_warm, 1.0)}


def start_dashboard(s: Settings, model_path: Path, partitions: int, log: Path
                    ) -> tuple[subprocess.Popen[bytes], str]:
    """A `pulse dashboard` on the bench's prefix, ready (loaded) before the worker starts; its URL."""
    names = TopicNames.from_settings(s)
    ensure_topics(s.bootstrap, [names.account_state_changelog], partitions, {"cleanup.policy": "compact"})
    env = child_env(KAFKA_BOOTSTRAP=s.bootstrap, PULSE_TOPIC_PREFIX=s.topic_prefix)
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "dashboard", "--model", str(model_path),
                             "--port", "0", "--loglevel", "warning"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        text = log.read_text(errors="replace")
        if url is None and "dashboard: http://" in text:
            url = text[text.index("dashboard: http://") + len("dashboard: "):].split()[0]
        if url is not None:
            try:
                if httpx.get(url + "healthz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    stop_child(proc, 10)
    raise RuntimeError(f"the dashboard did not get ready: see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dashboard_now(url: str, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The dashboard's /healthz and its CPU seconds so far."""
    st: dict[str, Any] = httpx.get(url + "healthz", timeout=5).json()
    return st | {"cpu_s": cpu_seconds(proc.pid)}


def dashboard_status(url: str, proc: subprocess.Popen[bytes], at_start: dict[str, Any],
                     at_caught_up: dict[str, Any]) -> dict[str, Any]:
    """What the dashboard had derived and spent when the worker caught up (`at_caught_up`; CPU
    counted from the worker's start), then how long it took to show everything once the worker
    was idle, its peak RSS."""
    t0 = time.monotonic()
    caught = at_caught_up
    while (caught.get("behind") or {}).get("accounts", 0) > 0 and time.monotonic() - t0 < 300:
        time.sleep(0.2)
        caught = dashboard_now(url, proc)
    rss = None
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = round(int(line.split()[1]) / 1024, 1)
    behind = at_caught_up.get("behind") or {}
    return {"accounts": at_caught_up["accounts"], "alerts": at_caught_up["alerts"], "peak_rss_mb": rss,
            "cpu_s": round(at_caught_up["cpu_s"] - at_start["cpu_s"], 2),  # while the worker ran
            "behind_accounts": behind.get("accounts"), "behind_oldest_s": behind.get("oldest_s"),
            "rows_received": behind.get("received"), "rows_coalesced": behind.get("coalesced"),
            "catch_up_s": round(time.monotonic() - t0, 1), "accounts_caught_up": caught["accounts"],
            "catch_up_cpu_s": round(caught["cpu_s"] - at_caught_up["cpu_s"], 2)}


def run(bootstrap: str, events: int, accounts: int, partitions: int, lat_rate: float, lat_seconds: float,
        seed: int = 7, envelopes: bool = False, quix: bool = True, dashboard: bool = False,
        floors: bool = True, lat_warmup: float = 5.0, guarantees: tuple[str, ...] = ("at_least_once",),
        hostile_fraction: float = 0.0) -> dict[str, Any]:
    """One bench run; the pipeline once per guarantee (the first is the main figure) and, with
    `hostile_fraction`, once more over hostile input (streams/dev/bench_variants.py)."""
    runs = variants(guarantees, hostile_fraction)
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    model_path = work / "model.toml"
    model_path.write_text(BENCH_MODEL)
    weights = load_model(model_path).weights
    data = work / "events.jsonl"
    write(Config(events=events, accounts=accounts, seed=seed, batch_rate=0.5 if envelopes else 0.0), data)
    n_lines, n_events = count_events(data)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    s = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, data_dir=work / "data")
    names = TopicNames.from_settings(s)
    create_topics(s, partitions)
    t = time.perf_counter()
    asyncio.run(produce_file(data, bootstrap, names.events))
    produce_s = time.perf_counter() - t
    base_s = asyncio.run(baseline(bootstrap, names.events, n_lines, weights)) if floors else None
    floor = faust_floor(bootstrap, names, n_lines) if floors else None
    pulse_floor = faust_floor(bootstrap, names, n_lines, pulse=True) if floors else None
    quix = quix and floors
    qfloor = quix_floor(bootstrap, names.events, n_lines) if quix else None
    quix_s = quix_job(s, partitions, weights, work) if quix else None
    qsizes = (asyncio.run(topic_sizes(bootstrap, [names.quix_alerts, names.quix_dlq]))
              if quix else {})
    dash = start_dashboard(s, model_path, partitions, work / "dashboard.log") if dashboard else None
    dash_st = None
    try:
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dash0 = None if dash is None else dashboard_now(dash[1], dash[0])
        proc = start_worker(s, model_path, partitions, work / "worker.log", runs[0].guarantee)
        try:
            startup_s, pipe_s = asyncio.run(pipeline(s))
            cpu_pipe = cpu_seconds(proc.pid)  # until caught up, start-up included
            dash1 = None if dash is None else dashboard_now(dash[1], dash[0])
            names = TopicNames.from_settings(s)
            psizes = outputs(bootstrap, names)  # records, read_committed (no transaction markers)
            lat = (asyncio.run(latency(s, lat_rate, lat_seconds, accounts, lat_warmup))
                   if lat_seconds > 0 else None)
            if lat is not None:
                lat["worker_cpu_s"] = round(cpu_seconds(proc.pid) - cpu_pipe, 2)
            if dash is not None and dash0 is not None and dash1 is not None:
                dash_st = dashboard_status(dash[1], dash[0], dash0, dash1)
        finally:
            stop_child(proc, 60)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # (the dashboard is not reaped yet)
    finally:
        if dash is not None:
            stop_child(dash[0], 30)
    worker_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    lines = [x.strip() for x in data.read_bytes().splitlines() if x.strip()]
    more = [figures(runs[0], n_lines, n_events, pipe_s, startup_s) | psizes]
    more += [run_variant(v, bootstrap, lines, n_events, model_path, partitions, work, start_worker, pipeline)
             for v in runs[1:]]
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "bench": "stream", "records": n_lines, "accounts": accounts, "partitions": partitions,
        "batch_envelopes": envelopes,
        "produce_records_per_s": round(n_lines / produce_s),
        "baseline_aiokafka_records_per_s": round(n_lines / base_s) if base_s else None,
        "faust_floor_records_per_s": floor,
        "pulse_transport_floor_records_per_s": pulse_floor,
        "pipeline_records_per_s": round(n_lines / pipe_s),
        "events": n_events,
        "pipeline_events_per_s": round(n_events / pipe_s),
        "quix_floor_records_per_s": qfloor,
        "quix_job_records_per_s": round(n_lines / quix_s) if quix_s else None,
        "quix_job_events_per_s": round(n_events / quix_s) if quix_s else None,
        "ratio_pipeline_to_faust_floor": round(n_lines / pipe_s / floor, 3) if floor else None,
        "ratio_pipeline_to_baseline": round(base_s / pipe_s, 3) if base_s else None,
        "ratio_pipeline_to_quix_job": round(quix_s / pipe_s, 3) if quix_s else None,
        "ratio_pipeline_to_quix_floor": round(n_lines / pipe_s / qfloor, 3) if qfloor else None,
        "ratio_quix_job_to_quix_floor": round(n_lines / quix_s / qfloor, 3) if quix_s and qfloor else None,
        "ratio_faust_floor_to_quix_floor": round(floor / qfloor, 3) if floor and qfloor else None,
        "ratio_pulse_transport_floor_to_faust_floor": (round(pulse_floor / floor, 3)
                                                       if pulse_floor and floor else None),
        "pipeline_guarantee": runs[0].guarantee,
        "pipeline_alerts": psizes["alerts"], "pipeline_dead_letters": psizes["dead_letters"],
        "quix_job_alerts": qsizes.get(names.quix_alerts),
        "quix_job_dead_letters": qsizes.get(names.quix_dlq),
        "worker_startup_s": round(startup_s, 2),
        "worker_peak_rss_mb": round(child_rss, 1),
        "worker_cpu_s": round(worker_cpu, 2),  # the worker process, start to stop (latency phase included)
        # the worker's CPU until caught up (start-up included): less sensitive to a loaded machine
        # than records/s
        "worker_cpu_s_caught_up": round(cpu_pipe, 2),
        "worker_cpu_us_per_record": round(cpu_pipe / n_lines * 1e6, 1),
        "latency": lat,
        "dashboard": dash_st,  # None: no dashboard followed this run
        "variants": more, **ratios(more),
        "workdir": str(work),
    }
