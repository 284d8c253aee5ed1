"""Reading a request body safely: the size limit before anything is parsed, bounded gunzip, JSON.

Segment's batch limit is 500 KB (500,000 bytes); `pulse ingest` applies it twice:

- to the bytes on the wire: a `Content-Length` over the limit is refused before one byte is read,
  and a body without one (chunked) is read only up to limit + 1 bytes;
- to the decompressed body of `Content-Encoding: gzip`: zlib is asked for at most limit + 1 bytes,
  so a gzip bomb (a few KB that inflate to gigabytes) costs at most 500 KB of memory and one
  bounded inflate call, then answers 413.

Errors are `HttpError`s: the status and the JSON answer (`code`, `message`, and `field` when one
field of the body is to blame), in the shape the official clients read (`code` and `message`).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import orjson

MAX_BODY_BYTES = 500_000  # Segment's batch limit (DESIGN: 500 KB is 500,000 bytes)
READ_CHUNK = 64 * 1024


class HttpError(Exception):
    """An answer other than 200: status, a short code, a message, the field to blame (if any)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.retry_after = field, retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": False, "code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def too_large(what: str, limit: int = MAX_BODY_BYTES) -> HttpError:
    return HttpError(413, "too_large", f"{what} is over the batch limit of {limit:,} bytes")


def check_length(content_length: int | None, limit: int = MAX_BODY_BYTES) -> None:
    if content_length is not None and content_length > limit:
        raise too_large("the request body", limit)


def gunzip_bounded(data: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Inflate a gzip body, refusing (413) as soon as it would exceed `limit` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise HttpError(400, "bad_encoding", f"the body is not valid gzip: {exc}", field="body") from None
    if len(out) > limit or d.unconsumed_tail:
        raise too_large("the decompressed body", limit)
    if not d.eof:
        raise HttpError(400, "bad_encoding", "the gzip body is truncated", field="body")
    if d.unused_data:
        raise HttpError(400, "bad_encoding", "data after the end of the gzip stream", field="body")
    return out


def decode(data: bytes, encoding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body's JSON bytes given its `Content-Encoding` (none, identity or gzip)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("identity", ""):
        return data
    if enc in ("gzip", "x-gzip"):
        return gunzip_bounded(data, limit)
    raise HttpError(415, "unsupported_encoding", f"Content-Encoding {enc!r} is not supported (gzip is)")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json(data: bytes) -> Any:
    """The JSON document. orjson reads an integer beyond 64 bits as a float (its digits would be
    lost when the call is written back out), so a body with a 19-digit run is read by `json`."""
    if _LONG_DIGITS.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError, TypeError) as exc:
        raise HttpError(400, "bad_json", f"the body is not JSON: {str(exc)[:200]}", field="body") from None
