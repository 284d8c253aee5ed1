"""The Faust floor: a Faust agent that reads a topic with `take_events` and does nothing else.

`pulse bench stream` compares the Pulse pipeline with a plain aiokafka loop; this adds the other
bound, what faust-streaming itself costs per record on the same broker and topic, with the same
batch and consumer settings as the worker (streams/worker/app.py), raw bytes, no table, no output.

    python -m streams.dev.faust_floor --bootstrap 127.0.0.1:19092 --topic T --records N [--app-id ID]

prints one JSON line: records, seconds (first batch -> N records), records_per_s.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--app-id", help="Faust app id and consumer group (default: a fresh prefix's "
                    "TopicNames.floor_app)")
    ap.add_argument("--max-poll-records", type=int, default=5000, help="broker_max_poll_records")
    ap.add_argument("--buffer", type=int, default=20_000, help="stream_buffer_maxsize")
    ap.add_argument("--batch", type=int, default=5000, help="take_events batch size")
    ap.add_argument("--transport", choices=("stock", "pulse"), default="pulse",
                    help="stock: faust's aiokafka transport; pulse: the worker's "
                         "(streams/worker/transport.py)")
    ap.add_argument("--coalesce", action="store_true",
                    help="pulse transport: deliver each partition's fetch as one event (message.records)")
    args = ap.parse_args()

    import faust

    from streams.settings import get_settings
    from streams.topics import TopicNames
    from streams.worker import transport
    from streams.worker.app import faust_auth

    transport.register()
    scheme = transport.SCHEME if args.transport == "pulse" else "kafka"

    app_id = args.app_id or TopicNames(f"floor{uuid.uuid4().hex[:8]}.").floor_app
    app = faust.App(app_id, broker=f"{scheme}://{args.bootstrap}", store="memory://",
                    datadir=tempfile.mkdtemp(prefix="faust-floor-"), web_enabled=False,
                    consumer_auto_offset_reset="earliest", broker_max_poll_records=args.max_poll_records,
                    stream_buffer_maxsize=args.buffer, key_serializer="raw", value_serializer="raw",
                    topic_disable_leader=True, **faust_auth(get_settings()))
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw")
    state = {"n": 0, "t0": 0.0}
    if args.coalesce:
        transport.coalesce(app, {args.topic})

    @app.agent(topic, concurrency=1)
    async def floor(stream):  # type: ignore[no-untyped-def]
        async for batch in stream.take_events(args.batch, 0.25):
            if state["n"] == 0:
                state["t0"] = time.perf_counter()
            state["n"] += sum(len(transport.records_of(e.message)) for e in batch)
            if state["n"] >= args.records:
                secs = time.perf_counter() - state["t0"]
                print(json.dumps({"records": state["n"], "seconds": round(secs, 3),
                                  "records_per_s": round(state["n"] / secs),
                                  "consumer": type(app.consumer).__name__}), flush=True)
                os._exit(0)  # the measurement is printed; skip Faust's slow shutdown

    from faust.worker import Worker

    w = Worker(app, loglevel="warning", quiet=True)
    w.spinner = None
    w.execute_from_commandline()


if __name__ == "__main__":
    main()
