"""The aiohttp application of `pulse ingest`: Segment's tracking API in front of Kafka.

    POST /v1/track /v1/identify /v1/group /v1/page /v1/screen /v1/alias   one call
    POST /v1/batch /v1/import                                              {"batch": [...]}
    GET  /healthz   200 while the process answers
    GET  /ready     200 once the Kafka producer is connected and its last send succeeded, else 503
    GET  /metrics   Prometheus text: pulse_ingest_*

Answers (JSON; errors carry `code` and `message`, what the official clients read, and `field`):

    200  {"success": true, "accepted": n, "rejected": m, "errors": [...]}  once Kafka has acknowledged
         every record (valid calls to `events`, invalid ones to `events-dlq` with their reason)
    400  the body is not JSON / not an object / `batch` is not a list / `type` contradicts the path
    401  no write key, or one no source in the key file has
    413  the body (on the wire or decompressed) is over 500,000 bytes
    415  a Content-Encoding other than gzip
    429  + Retry-After: the source is over its rate limit (streams/ingest/ratelimit.py)
    503  + Retry-After: Kafka is not connected, slow (send timeout) or too far behind, or too many
         requests are in flight
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from streams.ingest.auth import BadCredentials, KeyRing, basic_user
from streams.ingest.batching import (
    BATCH_CALLS,
    SINGLE_CALLS,
    Bad,
    Partitioner,
    calls_of,
    group_records,
    stamp,
    validate,
)
from streams.ingest.body import (
    MAX_BODY_BYTES,
    READ_CHUNK,
    HttpError,
    check_length,
    decode,
    parse_json,
    too_large,
)
from streams.ingest.metrics import IngestMetrics
from streams.ingest.producer import KafkaWriter, Unavailable
from streams.ingest.ratelimit import RateLimits
from streams.worker.records import dead_letter

log = logging.getLogger("pulse.ingest")
CALLS = frozenset(SINGLE_CALLS + BATCH_CALLS)
MAX_ERRORS_LISTED = 50


@dataclass(frozen=True)
class IngestOptions:
    events_topic: str
    dlq_topic: str
    max_in_flight: int = 256
    retry_after_seconds: int = 5
    max_future_skew_seconds: float = 300.0


def iso_ms(now_us: int) -> str:
    """`2026-11-30T18:50:00.123Z`: the server clock, as `receivedAt`."""
    whole = datetime.fromtimestamp(now_us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{(now_us // 1000) % 1000:03d}Z"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                        headers=headers)


class Ingest:
    def __init__(self, keys: KeyRing, writer: KafkaWriter, options: IngestOptions,
                 metrics: IngestMetrics | None = None, limits: RateLimits | None = None) -> None:
        self.keys, self.writer, self.opt, self.limits = keys, writer, options, limits
        self.metrics = metrics or IngestMetrics()
        self.partitioner = Partitioner()
        self.in_flight = 0
        self.skew_us = int(options.max_future_skew_seconds * 1_000_000)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_post("/v1/{call}", self.handle)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/metrics", self.metrics_view)

        async def on_startup(_app: web.Application) -> None:
            self.writer.start()

        async def on_cleanup(_app: web.Application) -> None:
            await self.writer.stop()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        return app

    # -- ops -------------------------------------------------------------------------------
    async def healthz(self, _request: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        if self.writer.ready:
            return _json(200, {"ready": True})
        return _json(503, {"ready": False, "reason": self.writer.error or "a send failed"})

    async def metrics_view(self, _request: web.Request) -> web.Response:
        self.metrics.pending_bytes.set(self.writer.pending_bytes)
        self.metrics.kafka_ready.set(1 if self.writer.ready else 0)
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    # -- calls -----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        call = request.match_info["call"]
        path = f"/v1/{call}" if call in CALLS else "other"
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            response = await self._handle(call, request)
        except HttpError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
            if exc.status == 401:
                headers = {"WWW-Authenticate": 'Basic realm="pulse ingest"'}
            response = _json(exc.status, exc.body(), headers)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
        self.metrics.requests.labels(path, str(response.status)).inc()
        self.metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    def _unavailable(self, why: str) -> HttpError:
        return HttpError(503, "unavailable", why, retry_after=self.opt.retry_after_seconds)

    async def _handle(self, call: str, request: web.Request) -> web.Response:
        if call not in CALLS:
            raise HttpError(404, "not_found", f"no endpoint /v1/{call} (calls: {', '.join(sorted(CALLS))})")
        if self.in_flight > self.opt.max_in_flight:
            raise self._unavailable(f"over {self.opt.max_in_flight} requests in flight")
        source = None
        header = request.headers.get("Authorization")
        if header:
            source = self._source(self._basic(header))
            self._rate(source)  # before the body is read
        if not self.writer.connected:
            raise self._unavailable(self.writer.error or "Kafka is not connected")
        check_length(request.content_length)
        body = decode(await _read_limited(request), request.headers.get("Content-Encoding"))
        doc = parse_json(body)
        if type(doc) is not dict:
            raise HttpError(400, "bad_request", "the body must be a JSON object (a call or a batch)",
                            field="body")
        if source is None:
            key = doc.get("writeKey")
            if key is None or key == "":
                raise HttpError(401, "unauthorized", "no write key: send it as the user of HTTP Basic "
                                "auth or as writeKey in the body")
            if type(key) is not str:
                raise HttpError(400, "bad_request", "writeKey must be a string", field="writeKey")
            source = self._source(key)
            self._rate(source)
        calls = calls_of(call, doc)
        return await self._write(call, source, calls)

    def _basic(self, header: str) -> str:
        try:
            return basic_user(header)
        except BadCredentials as exc:
            raise HttpError(401, "unauthorized", str(exc)) from None

    def _source(self, key: str) -> str:
        source = self.keys.source_of(key)
        if source is None:
            raise HttpError(401, "unauthorized", "unknown write key")
        return source

    def _rate(self, source: str) -> None:
        if self.limits is None:
            return
        over = self.limits.check(source, time.monotonic())
        if over is not None:
            self.metrics.rate_limited.labels(source).inc()
            raise HttpError(429, "rate_limited", over.message(), retry_after=over.retry_after)

    async def _write(self, call: str, source: str, calls: Any) -> web.Response:
        now_us = time.time_ns() // 1000
        stamp(calls.elements, iso_ms(now_us))
        good, bad, suffix = validate(calls, now_us=now_us, skew_us=self.skew_us)
        records: list[tuple[str, int | None, bytes | None, bytes]] = []
        try:
            if good:
                partitions = await self.writer.partitions(self.opt.events_topic)
                for rec in group_records(good, suffix, partitions, self.partitioner):
                    records.append((self.opt.events_topic, rec.partition, rec.key, rec.value))
            n_events = len(records)
            records.extend(self._dead_letters(call, source, bad, now_us))
            await self.writer.send(records)
        except Unavailable as exc:
            raise self._unavailable(str(exc)) from None
        m = self.metrics
        m.events.labels("accepted").inc(len(good))
        if bad:
            m.events.labels("rejected").inc(len(bad))
            for b in bad:
                m.rejected.labels(b.reason).inc()
        m.records.labels("events").inc(n_events)
        if bad:
            m.records.labels("events-dlq").inc(len(bad))
        return _json(200, {"success": True, "accepted": len(good), "rejected": len(bad),
                           "errors": [{"index": b.index, "reason": b.reason, "detail": b.detail}
                                      for b in bad[:MAX_ERRORS_LISTED]]})

    def _dead_letters(self, call: str, source: str, bad: list[Bad], now_us: int
                      ) -> list[tuple[str, int | None, bytes | None, bytes]]:
        if not bad:
            return []
        now_iso = datetime.fromtimestamp(now_us / 1_000_000, UTC).isoformat()
        out: list[tuple[str, int | None, bytes | None, bytes]] = []
        for b in bad:
            key = b.sender.encode() if b.sender is not None else None
            # no source offset: the call never reached `events`; topic names the HTTP path and source
            out.append((self.opt.dlq_topic, None, key, dead_letter(
                reason=b.reason, detail=f"{b.detail} (batch[{b.index}] from source {source!r})",
                raw=b.raw, topic=f"http:/v1/{call}", partition=-1, offset=-1, key=key, now_iso=now_iso)))
        return out


async def _read_limited(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read in chunks and refused (413) as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await request.content.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise too_large("the request body", limit)
        chunks.append(chunk)


async def start_server(ingest: Ingest, host: str, port: int) -> web.AppRunner:
    """Start serving; the caller stops it with `await runner.cleanup()`. Request bodies are not
    decompressed by aiohttp (`auto_decompress=False`): `body.decode` does it, bounded."""
    runner = web.AppRunner(ingest.app(), auto_decompress=False, access_log=None,
                           handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
