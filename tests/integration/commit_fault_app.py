"""A Faust app on Pulse's transport whose commit of the input's last offset fails once, the ways the
chaos runs' commits failed (for tests/integration/test_commit_stall.py; docs/chaos.md "The commit
stall").

    python -m tests.integration.commit_fault_app --bootstrap B --topic T --app-id A --end N
        --fault refused|hang [--stock] [--commit-timeout S]

The agent processes every record of T (one partition), 2 ms each, so some commits come first. The first commit whose offset for T is
`--end` (the log end: every record processed) fails once, at the driver's commit
(`ConsumerThread.commit`, which stock Faust awaits in `Consumer._commit_offsets`):

- `refused`: returns False without committing, as the driver does when aiokafka raises
  `CommitFailedError` ("already rebalanced");
- `hang`: never returns (a commit waiting for good).

`--stock` runs the consumer with stock Faust's commit methods (Pulse's `OwedCommits` left out),
to show the fault stalls stock Faust. Prints "FAULT <kind> <offsets>" to stdout when it injects.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--fault", choices=("refused", "hang"), required=True)
    ap.add_argument("--stock", action="store_true")
    ap.add_argument("--commit-timeout", type=float, default=3.0)
    args = ap.parse_args()

    import faust
    from faust.transport.drivers import aiokafka as stock

    from streams.worker import transport

    transport.register()
    transport.FastConsumer.commit_timeout = args.commit_timeout
    if args.stock:  # stock Faust's commit path: the mixin's methods replaced by stock's
        for name in ("_new_offset", "perform_seek", "on_partitions_revoked"):
            setattr(transport.FastConsumer, name, getattr(stock.Consumer, name))
        transport.FastConsumer._commit_offsets = stock.Consumer._commit_offsets  # type: ignore[method-assign]

    armed = [True]
    real_commit = transport.ConsumerThread.commit

    async def commit(self: Any, offsets: Any) -> bool:
        mine = {tp: o for tp, o in offsets.items() if tp.topic == args.topic}
        if armed[0] and any(o == args.end for o in mine.values()):
            armed[0] = False
            print(f"FAULT {args.fault} {sorted((str(tp), o) for tp, o in offsets.items())}", flush=True)
            if args.fault == "hang":
                await asyncio.Event().wait()
            return False
        return bool(await real_commit(self, offsets))

    transport.ConsumerThread.commit = commit  # type: ignore[method-assign]

    app = faust.App(args.app_id, broker=f"{transport.SCHEME}://{args.bootstrap}", store="memory://",
                    datadir=tempfile.mkdtemp(prefix="commit-fault-"), web_enabled=False,
                    consumer_auto_offset_reset="earliest", broker_commit_interval=0.5,
                    broker_max_poll_records=200, key_serializer="raw", value_serializer="raw",
                    topic_disable_leader=True, topic_partitions=1)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, partitions=1)

    @app.agent(topic)
    async def process(stream):  # type: ignore[no-untyped-def]
        async for _event in stream.events():
            await asyncio.sleep(0.002)  # ~4 s for the topic: several commits before the last

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app, assigned, **kwargs):  # type: ignore[no-untyped-def]
        print(f"ASSIGNED {type(app.consumer).__name__} {sorted(str(tp) for tp in assigned)}", flush=True)

    from faust.worker import Worker

    w = Worker(app, loglevel="warning", quiet=True, stdout=sys.stdout)
    w.spinner = None
    w.execute_from_commandline()


if __name__ == "__main__":
    main()
