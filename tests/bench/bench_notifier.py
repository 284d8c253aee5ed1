"""Notifier throughput: alerts/s through Redis Streams to a local webhook receiver.

    python -m tests.bench.bench_notifier [--alerts 5000 --concurrency 16 --runs 3]

Needs the local Redis (REDIS_URL or `pulse stack up`). The receiver (aiohttp, answers 204 and
counts) runs in its own process. In the same run, three ways to deliver the same alerts:

- `httpx_loop`: the baseline, a plain httpx POST loop (`concurrency` in flight), no Redis, no signing;
- `channel_loop`: the real webhook channel (SSRF check, Standard Webhooks signature) in the same
  loop, no Redis: the channel's own cost;
- `pipeline`: the router hands the alerts off to the channel's Redis Stream (timed apart as
  `handoff_per_s`), then one delivery worker runs every stage (XREADGROUP, dedup, cooldown, send,
  MULTI ack) until the receiver has them all.

Prints JSON with the median over `runs` and every run's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
import uuid
from typing import Any

import httpx
from redis.asyncio import Redis

from streams.contracts.alert import Alert
from streams.notify.channels import build_channel
from streams.notify.config import parse_config
from streams.notify.keys import Keys
from streams.notify.router import Router
from streams.notify.worker import ChannelWorker
from streams.settings import Settings
from tests.integration.notifier_harness import SECRET, make_alert


def _receiver(port: int, ready: Any) -> None:
    from aiohttp import web

    count = {"n": 0}

    async def post(request: web.Request) -> web.Response:
        await request.read()
        count["n"] += 1
        return web.Response(status=204)

    async def get(_request: web.Request) -> web.Response:
        return web.json_response(count)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", post)
        app.router.add_get("/count", get)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    import uvloop

    uvloop.run(main())


async def _count(client: httpx.AsyncClient, base: str) -> int:
    return int((await client.get(f"{base}/count")).json()["n"])


async def httpx_loop(url: str, alerts: list[Alert], concurrency: int) -> float:
    bodies = [a.to_json() for a in alerts]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        it = iter(bodies)

        async def one() -> None:
            for b in it:
                r = await client.post(url, content=b, headers={"Content-Type": "application/json"})
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return time.perf_counter() - t0


async def channel_loop(cfg_toml: str, alerts: list[Alert], concurrency: int) -> float:
    from streams.notify.channel import Delivery

    cfg = parse_config(cfg_toml)
    ch = build_channel("hook", cfg.channels["hook"])
    it = iter(alerts)

    async def one() -> None:
        for a in it:
            await ch.send(Delivery(channel="hook", route="bench", alert=a))

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    dt = time.perf_counter() - t0
    await ch.aclose()
    return dt


async def pipeline(redis_url: str, cfg_toml: str, alerts: list[Alert], base: str) -> tuple[float, float]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    cfg = parse_config(cfg_toml.replace("__PREFIX__", prefix))
    keys = Keys(prefix)
    redis = Redis.from_url(redis_url, decode_responses=True, max_connections=256)
    ch = build_channel("hook", cfg.channels["hook"])
    try:
        router = Router(redis, keys, cfg.notifier, cfg.effective_routes())
        t0 = time.perf_counter()
        for i in range(0, len(alerts), 500):
            await router.handle([(a.to_json(), "bench") for a in alerts[i:i + 500]])
        handoff = time.perf_counter() - t0
        async with httpx.AsyncClient() as client:
            start = await _count(client, base)
            stop = asyncio.Event()
            t1 = time.perf_counter()
            task = asyncio.create_task(ChannelWorker(redis, keys, ch, cfg.notifier).run(stop))
            while await _count(client, base) - start < len(alerts):
                await asyncio.sleep(0.02)
            deliver = time.perf_counter() - t1
            stop.set()
            await task
        return handoff, deliver
    finally:
        await ch.aclose()
        async for k in redis.scan_iter(f"{prefix}*"):
            await redis.delete(k)
        await redis.aclose()


async def run(redis_url: str, n: int, concurrency: int, runs: int, port: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    toml = (f'[notifier]\nredis_prefix = "__PREFIX__"\nconcurrency = {concurrency}\ndefault_cooldown_seconds = 0\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{base}/hook"\nsecret = "{SECRET}"\n'
            'allow_networks = ["127.0.0.1/32"]\n[[routes]]\nname = "all"\nchannels = ["hook"]\n')
    res: dict[str, list[float]] = {"httpx_loop": [], "channel_loop": [], "pipeline": [], "handoff_per_s": []}
    for r in range(runs):
        alerts = [make_alert(i, account=f"acct-{i % 1000}", at=f"2026-11-02T10:00:00.{r:02d}{i:04d}+00:00")
                  for i in range(n)]
        res["httpx_loop"].append(n / await httpx_loop(f"{base}/hook", alerts, concurrency))
        res["channel_loop"].append(n / await channel_loop(toml.replace("__PREFIX__", "x:"), alerts, concurrency))
        handoff, deliver = await pipeline(redis_url, toml, alerts, base)
        res["handoff_per_s"].append(n / handoff)
        res["pipeline"].append(n / deliver)
    return {"alerts": n, "concurrency": concurrency, "runs": runs, "cpus": os.cpu_count(),
            "unit": "alerts/s, median of runs",
            **{k: round(statistics.median(v), 1) for k, v in res.items()},
            "each_run": {k: [round(x, 1) for x in v] for k, v in res.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--port", type=int, default=18799)
    a = p.parse_args()
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=_receiver, args=(a.port, ready), daemon=True)
    proc.start()
    try:
        if not ready.wait(15):
            raise SystemExit("the receiver did not start")
        import uvloop

        out = uvloop.run(run(Settings().redis, a.alerts, a.concurrency, a.runs, a.port))
        print(json.dumps(out, indent=2))
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
