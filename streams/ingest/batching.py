"""From a request's calls to Kafka records: stamp, validate, group by the sender's partition.

- **Calls.** `/v1/batch` and `/v1/import` carry `{"batch": [...]}` (plus an envelope `context`
  and `sentAt`, carried along unchanged); the single-call paths carry one call, whose `type` is
  the path's when the body has none.
- **Stamping.** Every call gets `receivedAt` from the server clock (a client's own is replaced);
  the client's `sentAt` is kept, so Segment's `receivedAt - (sentAt - originalTimestamp)` works.
- **Validation** is `scoring.events.parse_message`, the worker's own parser, run once over the
  stamped calls as one envelope: one verdict per call (a valid batch never fails as a whole).
- **Grouping.** The worker reads `events` keyed by the sender (`userId`, else `anonymousId`):
  each valid call goes to the partition Kafka's default partitioner (aiokafka's
  `DefaultPartitioner`, murmur2) picks for its sender, and the calls of one partition become ONE
  batch-envelope record `{"batch": [...], "context"?, "sentAt"?}` keyed by the first sender of
  the group, in request order. A call without a sender (a `track` that names its account) joins
  the partition of the request's first sender. A group whose record would pass the 500,000-byte
  record limit (stamping adds ~45 bytes per call) is split into several records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from scoring.calls import Rejected
from scoring.events import parse_message
from streams.ingest.body import MAX_BODY_BYTES, HttpError

SINGLE_CALLS = ("track", "identify", "group", "page", "screen", "alias")
BATCH_CALLS = ("batch", "import")
ENVELOPE_KEYS = ("context", "sentAt")  # what a record keeps of the request's envelope
RECORD_LIMIT = MAX_BODY_BYTES  # a record over 500,000 bytes would be one invalid event


@dataclass(slots=True)
class Calls:
    """A request's calls and the envelope keys that travel with them."""

    elements: list[Any]
    envelope: dict[str, Any]


@dataclass(slots=True)
class Bad:
    index: int
    reason: str
    detail: str
    raw: bytes
    sender: str | None


@dataclass(slots=True)
class Record:
    partition: int
    key: bytes | None
    value: bytes
    count: int


def calls_of(call: str, doc: dict[str, Any]) -> Calls:
    """The calls of a request body on `/v1/<call>`; HttpError 400 names the field to blame."""
    if call in BATCH_CALLS:
        if "batch" not in doc:
            raise HttpError(400, "bad_request", "batch is required (a list of calls)", field="batch")
        batch = doc["batch"]
        if type(batch) is not list:
            raise HttpError(400, "bad_request", f"batch must be a list, got {_kind(batch)}", field="batch")
        return Calls(batch, {k: doc[k] for k in ENVELOPE_KEYS if k in doc})
    element = {k: v for k, v in doc.items() if k != "writeKey"}
    typ = element.get("type")
    if typ is None or typ == "":
        element["type"] = call
    elif typ != call:
        raise HttpError(400, "bad_request", f"type {typ!r} does not match the endpoint /v1/{call}",
                        field="type")
    return Calls([element], {})


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(v), "a number")


def stamp(elements: list[Any], received_at: str) -> None:
    for el in elements:
        if type(el) is dict:
            el["receivedAt"] = received_at


def sender_of(el: Any) -> str | None:
    """The id the worker keys `events` by: `userId`, else `anonymousId` (an integer as its digits)."""
    if type(el) is not dict:
        return None
    for field in ("userId", "anonymousId"):
        v = el.get(field)
        if type(v) is str and v:
            return v
        if type(v) is int:
            return str(v)
    return None


def dumps(v: Any) -> bytes:
    """Compact JSON, raw UTF-8 (the size DESIGN measures); integers beyond 64 bits via `json`."""
    try:
        return orjson.dumps(v)
    except TypeError:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()


def envelope_suffix(envelope: dict[str, Any]) -> bytes:
    return b"".join(b"," + dumps(k) + b":" + dumps(v) for k, v in envelope.items())


def _chunks(raws: Sequence[bytes], budget: int) -> Iterable[tuple[int, int]]:
    """[start, end) index ranges whose joined size stays within `budget` (at least one each)."""
    start, size = 0, 0
    for i, raw in enumerate(raws):
        if i > start and size + len(raw) + 1 > budget:
            yield start, i
            start, size = i, 0
        size += len(raw) + 1
    if start < len(raws):
        yield start, len(raws)


def validate(calls: Calls, *, now_us: int, skew_us: int
             ) -> tuple[list[tuple[bytes, str | None]], list[Bad], bytes]:
    """(valid calls as (bytes, sender) in order, rejected calls, the envelope suffix)."""
    raws = [dumps(el) for el in calls.elements]
    suffix = envelope_suffix(calls.envelope)
    budget = RECORD_LIMIT - len(suffix) - len(b'{"batch":[]}')
    good: list[tuple[bytes, str | None]] = []
    bad: list[Bad] = []
    for start, end in _chunks(raws, budget):
        msg = b'{"batch":[' + b",".join(raws[start:end]) + b"]" + suffix + b"}"
        items = parse_message(msg, now_us=now_us, max_future_skew_us=skew_us)
        if len(items) != end - start:  # the envelope itself was refused: every call with it
            first = items[0] if items else Rejected("bad_batch", "the envelope was refused", msg)
            items = [first] * (end - start)
        for i, item in zip(range(start, end), items, strict=True):
            sender = sender_of(calls.elements[i])
            if isinstance(item, Rejected):
                bad.append(Bad(i, item.reason, item.detail, raws[i], sender))
            else:
                good.append((raws[i], sender))
    return good, bad, suffix


class Partitioner:
    """The `events` partition of a sender, as Kafka's default partitioner picks it (cached)."""

    def __init__(self, cache_size: int = 200_000) -> None:
        self._pick = DefaultPartitioner()
        self._cache: dict[tuple[bytes, int], int] = {}
        self._cache_size = cache_size

    def __call__(self, key: bytes | None, partitions: list[int]) -> int:
        if key is None:
            return int(self._pick(None, partitions, partitions))
        hit = self._cache.get((key, len(partitions)))
        if hit is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            hit = self._cache[(key, len(partitions))] = int(self._pick(key, partitions, partitions))
        return hit


def group_records(good: list[tuple[bytes, str | None]], suffix: bytes, partitions: list[int],
                  partitioner: Partitioner, limit: int = RECORD_LIMIT) -> list[Record]:
    """One batch-envelope record per partition (more only past `limit` bytes), in request order."""
    first = next((s for _, s in good if s is not None), None)
    fallback = partitioner(first.encode() if first is not None else None, partitions)
    open_: dict[int, tuple[bytes | None, list[bytes], int]] = {}
    out: list[Record] = []
    overhead = len(b'{"batch":[]}') + len(suffix)

    def close(p: int) -> None:
        key, parts, _ = open_.pop(p)
        out.append(Record(p, key, b'{"batch":[' + b",".join(parts) + b"]" + suffix + b"}", len(parts)))

    for raw, sender in good:
        key = sender.encode() if sender is not None else None
        p = partitioner(key, partitions) if key is not None else fallback
        held = open_.get(p)
        if held is not None and held[2] + len(raw) + 1 > limit:
            close(p)
            held = None
        if held is None:
            open_[p] = (key, [raw], overhead + len(raw))
        else:
            held[1].append(raw)
            open_[p] = (held[0] if held[0] is not None else key, held[1], held[2] + len(raw) + 1)
    for p in list(open_):
        close(p)
    return out
