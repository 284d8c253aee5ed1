"""The Quix Streams baselines of `pulse bench stream`: the same job written the Quix way.

    python -m streams.dev.quix_job floor --bootstrap B --topic T --records N
    python -m streams.dev.quix_job job --bootstrap B --topic T --group G --prefix P --partitions K \
        --weights '{"Login": 1}'

`floor` consumes the topic and does nothing else (one `apply` that counts); it prints one JSON
line (records, seconds from the first record to the N-th, records_per_s) and exits.

`job` is Pulse's pipeline like for like, in Quix's own terms, and runs until it is stopped (the
bench times it as it times the worker: from the group's first commit to both topics caught up):

1. `events` (keyed by user) -> a stateful `apply` per record: orjson parse and validate (a batch
   envelope expands to its events); `group` calls write the user -> account mapping into Quix
   State (RocksDB, with its changelog topic); other events take their account from
   `context.groupId` or that mapping (none: a B2C user, dropped as Pulse drops it); invalid
   records become dead letters (raw bytes, reason, offset) on a DLQ topic.
2. A real repartition by account: `to_topic(scored, key=account)` and a second dataframe on
   that topic (Quix's `group_by` makes no repartition topic for a 1-partition input, so the hop
   is forced this way whatever the partition count).
3. `scored` (keyed by account) -> a stateful `apply`: a 30-day windowed sum of the model's
   weights in daily buckets in Quix State (RocksDB + changelog), the band of the sum with
   Pulse's default edges, and on a band change an alert to the `alerts` topic.

Not in the Quix job (Pulse does them): messageId dedup, out-of-order and late handling beyond
the window, the stream-wide sweep to silence, alert explanations. The comparison flatters Quix.
Quix commits every second here, as the Pulse worker does (Quix's default is 5 s).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
from datetime import datetime
from typing import Any

import orjson

DAY_S = 86_400
WINDOW_DAYS = 30
TYPES = frozenset(("track", "page", "screen", "identify", "group"))
EDGES = (0.0, 40.0, 70.0, 100.0)  # Pulse's default band edges: at_risk < 0 <= red <= 40 < ...


def band_of(score: float) -> int:
    if score < EDGES[0]:
        return 0
    for i, edge in enumerate(EDGES[1:], start=1):
        if score <= edge:
            return i
    return 4


def validate(d: Any) -> tuple[dict[str, Any] | None, str]:
    """(event, "") or (None, reason): the checks a Segment event must pass to be scored."""
    if not isinstance(d, dict):
        return None, "not_an_object"
    kind = d.get("type")
    if kind not in TYPES:
        return None, "bad_type"
    user = d.get("userId") or d.get("anonymousId")
    if not isinstance(user, str):
        return None, "no_user"
    ts = d.get("timestamp")
    if not isinstance(ts, str) or len(ts) < 20 or ts[10] != "T":
        return None, "bad_timestamp"
    try:
        d["_ts"] = int(datetime.fromisoformat(ts).timestamp())
    except ValueError:
        return None, "bad_timestamp"
    ctx = d.get("context")
    if ctx is not None and not isinstance(ctx, dict):
        return None, "bad_context"
    if kind == "track" and not isinstance(d.get("event"), str):
        return None, "no_event"
    if kind == "group" and not isinstance(d.get("groupId"), str):
        return None, "no_group"
    d["_user"] = user
    return d, ""


def resolve(value: bytes, state: Any) -> list[dict[str, Any]]:
    """One `events` record -> scored items (keyed by account later) and dead letters."""
    try:
        d = orjson.loads(value)
    except orjson.JSONDecodeError:
        return [{"k": "dlq", "reason": "bad_json", "raw": base64.b64encode(value).decode()}]
    items = d["batch"] if isinstance(d, dict) and "batch" in d else [d]
    if not isinstance(items, list):
        return [{"k": "dlq", "reason": "bad_batch", "raw": base64.b64encode(value).decode()}]
    out: list[dict[str, Any]] = []
    for item in items:
        ev, reason = validate(item)
        if ev is None:
            out.append({"k": "dlq", "reason": reason, "raw": base64.b64encode(value).decode()})
            continue
        if ev["type"] == "group":
            if state.get("account") != ev["groupId"]:
                state.set("account", ev["groupId"])
            continue
        ctx = ev.get("context")
        account = (ctx.get("groupId") if ctx else None) or state.get("account")
        if account is None:
            continue  # a B2C user: no account to score
        out.append({"k": "ev", "a": account, "n": ev.get("event") or ev["type"], "t": ev["_ts"],
                    "m": ev.get("messageId")})
    return out


def make_score(weights: dict[str, float]) -> Any:
    def score(item: dict[str, Any], state: Any) -> dict[str, Any] | None:
        """Fold one scored item into its account's 30-day daily-bucket sum; a band change -> alert."""
        day = item["t"] // DAY_S
        buckets: dict[str, float] = state.get("b") or {}
        key = str(day)
        buckets[key] = buckets.get(key, 0.0) + weights.get(item["n"], 0.0)
        newest = max(day, state.get("d") or day)
        total = 0.0
        for k in list(buckets):
            if int(k) <= newest - WINDOW_DAYS:
                del buckets[k]
            else:
                total += buckets[k]
        state.set("b", buckets)
        state.set("d", newest)
        band = band_of(total)
        before = state.get("band")
        if before == band:
            return None
        state.set("band", band)
        if before is None:
            return None  # the account's first band: no change to report (as Pulse)
        return {"account": item["a"], "from": before, "to": band, "score": total, "day": newest}
    return score


def run_floor(bootstrap: str, topic: str, records: int) -> None:
    from quixstreams import Application

    app = Application(broker_address=bootstrap, consumer_group=f"quixfloor-{os.getpid()}-{time.time_ns()}",
                      auto_offset_reset="earliest", state_dir=tempfile.mkdtemp(prefix="quix-floor-"),
                      loglevel="WARNING", use_changelog_topics=False)
    src = app.topic(topic, value_deserializer="bytes", key_deserializer="bytes")
    counter = {"n": 0, "t0": 0.0}

    def count(_value: bytes) -> None:
        if counter["n"] == 0:
            counter["t0"] = time.perf_counter()
        counter["n"] += 1
        if counter["n"] >= records:
            secs = time.perf_counter() - counter["t0"]
            print(json.dumps({"records": counter["n"], "seconds": round(secs, 3),
                              "records_per_s": round(counter["n"] / secs)}), flush=True)
            os._exit(0)  # the measurement is printed; skip the shutdown

    app.dataframe(src).update(count)
    app.run()


def run_job(bootstrap: str, topic: str, group: str, prefix: str, partitions: int,
            weights: dict[str, float], state_dir: str) -> None:
    from quixstreams import Application
    from quixstreams.models import TopicConfig
    from quixstreams.models.serializers.json import JSONDeserializer, JSONSerializer

    from streams.topics import TopicNames

    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      state_dir=state_dir, loglevel="WARNING", commit_interval=1.0)
    config = TopicConfig(num_partitions=partitions, replication_factor=1)
    ser, de = JSONSerializer(dumps=orjson.dumps), JSONDeserializer(loads=orjson.loads)
    names = TopicNames(prefix)
    events = app.topic(topic, value_deserializer="bytes", key_deserializer="bytes")
    scored = app.topic(names.quix_scored, value_serializer=ser, value_deserializer=de,
                       key_serializer="str", key_deserializer="str", config=config)
    alerts = app.topic(names.quix_alerts, value_serializer=ser, key_serializer="str", config=config)
    dlq = app.topic(names.quix_dlq, value_serializer=ser, config=config)

    routed = app.dataframe(events).apply(resolve, stateful=True, expand=True)
    routed[routed.apply(lambda v: v["k"] == "dlq")].to_topic(dlq)
    routed[routed.apply(lambda v: v["k"] == "ev")].to_topic(scored, key=lambda v: v["a"])

    banded = app.dataframe(scored).apply(make_score(weights), stateful=True)
    banded.filter(lambda v: v is not None).to_topic(alerts, key=lambda v: v["account"])
    app.run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("floor", "job"))
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=int, default=0, help="floor: stop after this many records")
    ap.add_argument("--group", default=f"quixjob-{os.getpid()}")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--weights", default="{}", help="JSON object: event name -> points")
    ap.add_argument("--state-dir", default="")
    args = ap.parse_args()
    if args.mode == "floor":
        run_floor(args.bootstrap, args.topic, args.records)
    else:
        run_job(args.bootstrap, args.topic, args.group, args.prefix, args.partitions,
                json.loads(args.weights), args.state_dir or tempfile.mkdtemp(prefix="quix-job-"))


if __name__ == "__main__":
    main()
