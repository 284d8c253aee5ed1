"""Send a JSONL file of Segment calls through the official Python client (`segment-analytics-python`).

    python -m streams.dev.segment_send examples/demo.jsonl --host http://127.0.0.1:8088 --write-key KEY

Each line becomes the client call of its `type` (track, identify, group, page, screen, alias) with
its ids, `context`, `properties`/`traits`, `messageId` and `timestamp`: what an application using
the library would send. The client batches (100 calls per `/v1/batch` request) from one thread,
so the calls arrive in file order. A line that is not a JSON object (examples/demo.jsonl holds one
on purpose) is skipped and counted: no client can send it. Used by `make demo` and the real-client
tests.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson


class SendError(RuntimeError):
    pass


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("z", "Z"))


def enqueue(client: Any, d: dict[str, Any]) -> None:
    """One file line as the client's own call."""
    common = {"user_id": d.get("userId"), "anonymous_id": d.get("anonymousId"),
              "context": d.get("context") or {}, "timestamp": _when(d.get("timestamp")),
              "message_id": d.get("messageId")}
    typ = d.get("type")
    if typ == "track":
        client.track(event=d.get("event"), properties=d.get("properties") or {}, **common)
    elif typ == "group":
        client.group(group_id=d.get("groupId"), traits=d.get("traits") or {}, **common)
    elif typ == "identify":
        client.identify(traits=d.get("traits") or {}, **common)
    elif typ in ("page", "screen"):
        getattr(client, typ)(name=d.get("name"), category=d.get("category"),
                             properties=d.get("properties") or {}, **common)
    elif typ == "alias":
        client.alias(previous_id=d.get("previousId"), user_id=d.get("userId"),
                     context=common["context"], timestamp=common["timestamp"],
                     message_id=common["message_id"])
    else:
        raise SendError(f"no client call for type {typ!r}")


def calls_in(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The file's calls (lines that are JSON objects) and the number of other non-blank lines."""
    calls: list[dict[str, Any]] = []
    skipped = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            d = None
        if isinstance(d, dict):
            calls.append(d)
        else:
            skipped += 1
    return calls, skipped


def send_file(path: Path, host: str, write_key: str, *, gzip: bool = False, upload_size: int = 100
              ) -> tuple[int, int]:
    """Send every call of the file: (calls sent, lines skipped). Raises SendError if the client
    reported a failed batch."""
    from segment.analytics import Client

    errors: list[str] = []
    client = Client(write_key=write_key, host=host, gzip=gzip, upload_size=upload_size, max_retries=5,
                    on_error=lambda exc, batch: errors.append(f"{exc} ({len(batch)} calls)"))
    calls, skipped = calls_in(path)
    try:
        for d in calls:
            enqueue(client, d)
        client.flush()  # waits until the queue is empty (every batch answered)
    finally:
        client.join()
    if errors:
        raise SendError("; ".join(errors))
    return len(calls), skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("events", type=Path)
    ap.add_argument("--host", required=True, help="pulse ingest's URL, e.g. http://127.0.0.1:8088")
    ap.add_argument("--write-key", required=True)
    ap.add_argument("--gzip", action="store_true")
    args = ap.parse_args(argv)
    try:
        n, skipped = send_file(args.events, args.host, args.write_key, gzip=args.gzip)
    except SendError as exc:
        print(f"error: the client reported: {exc}", file=sys.stderr)
        return 1
    note = f" (skipped {skipped} line(s) that are not JSON objects)" if skipped else ""
    print(f"sent {n} calls with segment-analytics-python to {args.host}{note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
