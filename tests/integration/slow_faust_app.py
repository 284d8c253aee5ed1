"""A Faust app on Pulse's transport whose stream buffer is always full (for the #229 test).

    python -m tests.integration.slow_faust_app --bootstrap B --topic T --app-id A --out DIR

The agent takes ~2 ms per event and the stream buffer holds 4 events, so the drain loop spends
its time blocked on full buffers, the situation of faust-streaming #229 (a rebalance while a
delivery is blocked in `queue.put`). Every event processed is appended to DIR/<pid>.txt as
"partition offset"; every assignment to DIR/<pid>.assigned as a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()

    import faust

    from streams.worker import transport

    transport.register()
    app = faust.App(args.app_id, broker=f"{transport.SCHEME}://{args.bootstrap}", store="memory://",
                    datadir=tempfile.mkdtemp(prefix="slow-faust-"), web_enabled=False,
                    consumer_auto_offset_reset="earliest", stream_buffer_maxsize=4,
                    broker_max_poll_records=500, broker_commit_interval=0.5,
                    key_serializer="raw", value_serializer="raw", topic_disable_leader=True,
                    topic_partitions=args.partitions)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, partitions=args.partitions)
    out = Path(args.out)
    done = (out / f"{os.getpid()}.txt").open("a", buffering=1)
    assigned_log = (out / f"{os.getpid()}.assigned").open("a", buffering=1)

    @app.agent(topic, concurrency=1)
    async def slow(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await asyncio.sleep(0.002)
            done.write(f"{event.message.partition} {event.message.offset}\n")

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app, assigned, **kwargs):  # type: ignore[no-untyped-def]
        consumer = app.consumer
        assigned_log.write(json.dumps({"tps": sorted(tp.partition for tp in assigned if tp.topic == args.topic),
                                       "consumer": type(consumer).__name__,
                                       "suspended": getattr(consumer, "suspended", None)}) + "\n")

    from faust.worker import Worker

    w = Worker(app, loglevel="warning", quiet=True)
    w.spinner = None
    w.execute_from_commandline()


if __name__ == "__main__":
    main()
