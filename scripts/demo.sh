#!/usr/bin/env bash
# `make demo`: the real local stack, then Pulse end to end on examples/demo.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/pulse
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "stack: Apache Kafka (KRaft) + Redis on loopback"
$P stack up

say "backtest: pulse replay examples/demo.jsonl (pure core, no Kafka)"
$P replay examples/demo.jsonl --out .pulse/demo/replay
echo "band changes (from replay):"; cat .pulse/demo/replay/changes.jsonl

say "through the broker: events in, read back"
.venv/bin/python - <<'PY'
import asyncio, orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from streams.settings import get_settings
s = get_settings(); topic = s.topic("events")
async def main():
    lines = open("examples/demo.jsonl", "rb").read().splitlines()[:5]
    p = AIOKafkaProducer(bootstrap_servers=s.bootstrap); await p.start()
    for line in lines:
        await p.send_and_wait(topic, line)
    await p.stop()
    c = AIOKafkaConsumer(topic, bootstrap_servers=s.bootstrap, auto_offset_reset="latest")
    await c.start()
    end = (await c.end_offsets(list(c.assignment()))) if c.assignment() else {}
    for tp, off in end.items():
        c.seek(tp, max(0, off - len(lines)))
    got = await c.getmany(timeout_ms=5000)
    for recs in got.values():
        for r in recs:
            print(f"{r.topic}[{r.partition}]@{r.offset}: {r.value[:100].decode()}")
    await c.stop()
asyncio.run(main())
PY
