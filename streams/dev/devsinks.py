"""Local sinks for trying the notifier (`make demo`): a webhook receiver and an SMTP inbox that print
what arrives. Needs the dev extra (aiohttp, aiosmtpd)::

    python -m streams.dev.devsinks --webhook-port 8787 --smtp-port 8025 [--secret whsec_...]

The webhook receiver answers 204 to `POST /<anything>`, checks the Standard Webhooks signature
when `--secret` is given, and drops a `webhook-id` it has already seen (as a real receiver should).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.policy
import hashlib
import hmac
import sys
from email import message_from_bytes
from email.message import Message
from typing import Any

import orjson

from streams.lifecycle import stop_on_signals


def _say(line: str) -> None:
    print(line, flush=True)


def _check_signature(secret: str | None, headers: Any, body: bytes) -> str:
    if not secret:
        return "unsigned check skipped"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    sigs = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if "," in s]
    return "signature ok" if any(hmac.compare_digest(want, s) for s in sigs) else "SIGNATURE MISMATCH"


async def _webhook(port: int, secret: str | None) -> Any:
    from aiohttp import web

    seen: set[str] = set()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("webhook-id", "")
        if key in seen:
            _say(f"[webhook] duplicate {key} dropped")
            return web.Response(status=204)
        seen.add(key)
        try:
            a = orjson.loads(body)
            what = (f"{a.get('account')} {a.get('from') or '-'} -> {a.get('to')} score {a.get('score')} "
                    f"[{a.get('kind')}/{a.get('reason')}] notifier route {a.get('notifier_route')}")
        except orjson.JSONDecodeError:
            what = body[:200].decode("utf-8", "replace")
        _say(f"[webhook {request.path}] {what}  (webhook-id {key}; "
             f"{_check_signature(secret, request.headers, body)})")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


class _Inbox:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg: Message = message_from_bytes(envelope.original_content or envelope.content,
                                          policy=email.policy.default)
        _say(f"[smtp inbox] To: {', '.join(envelope.rcpt_tos)}  Subject: {msg['Subject']}  "
             f"(Message-ID {msg['Message-ID']})")
        return "250 OK"


async def main(webhook_port: int, smtp_port: int, secret: str | None) -> None:
    from aiosmtpd.controller import Controller

    runner = await _webhook(webhook_port, secret)
    smtp = Controller(_Inbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    _say(f"[sinks] webhook receiver on http://127.0.0.1:{webhook_port}/, SMTP inbox on 127.0.0.1:{smtp_port}")
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        smtp.stop()
        await runner.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Local webhook receiver + SMTP inbox that print what arrives.")
    p.add_argument("--webhook-port", type=int, default=8787)
    p.add_argument("--smtp-port", type=int, default=8025)
    p.add_argument("--secret", default=None, help="whsec_... to verify webhook signatures")
    args = p.parse_args()
    try:
        asyncio.run(main(args.webhook_port, args.smtp_port, args.secret))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
