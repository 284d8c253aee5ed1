"""`pulse bench ingest`: events/s through `pulse ingest`, beside `pulse produce` straight to Kafka.

One run, printed as JSON:
1. generate N events (streams.dev.telemetry, no malformed lines) over K accounts;
2. ingest: a real `pulse ingest` process on a free port, a fresh topic prefix with P partitions;
   C concurrent HTTP clients (aiohttp, keep-alive, in this process) post the events as
   `/v1/batch` requests of B calls (Basic auth) as fast as they are answered. Reported: events/s
   from the first request to the last answer (each 200 means Kafka acknowledged, acks=all),
   request latency p50/p99, the records the ingest wrote (one per partition per request);
3. produce: the same events as JSONL through `pulse produce`'s code (`produce_file`: one record
   per event, acks=all) to another fresh topic of P partitions.

The load generator shares the machine with the ingest (and the broker): on a small machine the
figure is a floor for the ingest, not its ceiling. The JSON says how busy the CPUs were.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from streams.dev.produce import produce_file
from streams.dev.stack import free_port, stop_child
from streams.dev.telemetry import Config, generate
from streams.ingest.auth import hash_key, new_key, new_salt
from streams.kafka import ensure_topics
from streams.settings import child_env
from streams.topics import TopicNames

WORKER_RECORDS_PER_S = 8000  # the worker's figure the target is set against (docs/benchmarks.md)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)


def _start_ingest(bootstrap: str, prefix: str, port: int, tmp: Path, key: str) -> subprocess.Popen[bytes]:
    salt = new_salt()
    config = tmp / "keys.toml"
    config.write_text(f'salt = "{salt}"\n\n[[source]]\nname = "bench"\nkey_hash = "{hash_key(salt, key)}"\n')
    env = child_env(KAFKA_BOOTSTRAP=bootstrap, PULSE_TOPIC_PREFIX=prefix)
    log = (tmp / "ingest.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest", "--config", str(config),
                             "--port", str(port), "--loglevel", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


async def _wait_ready(session: Any, base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("pulse ingest exited before it was ready")
        try:
            async with session.get(base + "/ready") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"pulse ingest not ready after {timeout}s")


async def _post_all(base: str, bodies: list[bytes], clients: int, key: str,
                    proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json",
               "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    connector = aiohttp.TCPConnector(limit=clients)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        await _wait_ready(session, base, proc)
        queue = list(reversed(bodies))

        async def client() -> None:
            nonlocal accepted
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                async with session.post(base + "/v1/batch", data=body, headers=headers) as r:
                    answer = await r.read()
                latencies.append(time.perf_counter() - t0)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 200:
                    accepted += orjson.loads(answer)["accepted"]

        cpu0, started = os.times(), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        cpu1 = os.times()
        async with session.get(base + "/metrics") as r:
            metrics = await r.text()
    records = next((float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith('pulse_ingest_records_total{topic="events"}')), 0.0)
    return {"seconds": elapsed, "latencies": latencies, "statuses": statuses, "accepted": accepted,
            "records": int(records),
            "client_cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2)}


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(bootstrap: str, events: int, accounts: int, clients: int, batch: int, partitions: int
        ) -> dict[str, Any]:
    lines = list(generate(Config(events=events, accounts=accounts, bad_rate=0.0, batch_rate=0.0, seed=11)))
    bodies = [b'{"batch":[' + b",".join(lines[i:i + batch]) + b"]}" for i in range(0, len(lines), batch)]
    run_id = uuid.uuid4().hex[:8]
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-ingest-") as d:
        tmp = Path(d)
        prefix = f"bench-ingest-{run_id}."
        names = TopicNames(prefix)
        ensure_topics(bootstrap, [names.events, names.dlq], partitions)
        key, port = new_key(), free_port()
        proc = _start_ingest(bootstrap, prefix, port, tmp, key)
        try:
            try:
                import uvloop

                runner: Any = uvloop.run
            except ImportError:  # pragma: no cover
                runner = asyncio.run
            ingest_cpu0 = _proc_cpu(proc.pid)
            got = runner(_post_all(f"http://127.0.0.1:{port}", bodies, clients, key, proc))
            ingest_cpu = _proc_cpu(proc.pid) - ingest_cpu0
        finally:
            stop_child(proc, 15)
        jsonl = tmp / "events.jsonl"
        jsonl.write_bytes(b"\n".join(lines) + b"\n")
        produce_topic = f"bench-produce-{run_id}.events"
        ensure_topics(bootstrap, [produce_topic], partitions)
        t0 = time.perf_counter()
        produced = asyncio.run(produce_file(jsonl, bootstrap, produce_topic))
        produce_s = time.perf_counter() - t0
    ingest_eps = len(lines) / got["seconds"]
    return {
        "events": len(lines),
        "accounts": accounts,
        "partitions": partitions,
        "batch": batch,
        "clients": clients,
        "ingest": {
            "events_per_s": round(ingest_eps),
            "requests": len(bodies),
            "requests_per_s": round(len(bodies) / got["seconds"], 1),
            "request_p50_ms": _pct(got["latencies"], 0.50),
            "request_p99_ms": _pct(got["latencies"], 0.99),
            "statuses": {str(k): v for k, v in sorted(got["statuses"].items())},
            "accepted": got["accepted"],
            "records_written": got["records"],
            "ingest_cpu_s": round(ingest_cpu, 2),
            "load_generator_cpu_s": got["client_cpu_s"],
            "seconds": round(got["seconds"], 2),
        },
        "produce": {"events_per_s": round(produced / produce_s), "records": produced,
                    "seconds": round(produce_s, 2)},
        "ingest_vs_produce": round(ingest_eps / (produced / produce_s), 2),
        "target_events_per_s": 2 * WORKER_RECORDS_PER_S,
        "target_met": ingest_eps >= 2 * WORKER_RECORDS_PER_S,
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
