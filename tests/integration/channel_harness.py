"""Real receivers for the channel tests: an aiohttp HTTP server and an aiosmtpd SMTP server, both
on 127.0.0.1 with a free port, recording what they received.

HTTP routes (POST):
    /hook, /slack/{token}       200 "ok", recorded
    /status/{code}              that status; `?retry_after=...` sets Retry-After, `?body=...` the body
    /redirect                   302 to /target (which records a hit if anyone ever follows it)
    /slow                       answers only when the test ends (or after 30 s)
    /big                        200 with an endless body, counting the bytes it managed to write
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from streams.dev.stack import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    target_hits: int = 0
    big_written: int = 0
    big_done: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    async def _record(self, request: web.Request) -> Received:
        rec = Received(request.path_qs, dict(request.headers), await request.read())
        self.received.append(rec)
        return rec

    async def ok(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(text="ok")

    async def status(self, request: web.Request) -> web.Response:
        await self._record(request)
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.Response(status=int(request.match_info["code"]), headers=headers,
                            text=request.query.get("body", "nope"))

    async def redirect(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=302, headers={"Location": f"{self.base_url}/target"})

    async def target(self, request: web.Request) -> web.Response:
        self.target_hits += 1
        return web.Response(text="followed")

    async def slow(self, request: web.Request) -> web.Response:
        await self._record(request)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 30)
        return web.Response(text="too late")

    async def big(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        chunk = b"x" * 65536
        try:
            while self.big_written < 512 * 1024 * 1024:  # 512 MiB if nobody stops reading
                await resp.write(chunk)
                self.big_written += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.big_done.set()
        return resp

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> HttpReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.ok)
        app.router.add_post("/slack/{token}", self.ok)
        app.router.add_post("/status/{code}", self.status)
        app.router.add_post("/redirect", self.redirect)
        app.router.add_route("*", "/target", self.target)
        app.router.add_post("/slow", self.slow)
        app.router.add_post("/big", self.big)
        self.runner = web.AppRunner(app, shutdown_timeout=2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


class RecordingSmtpHandler:
    """Accepts mail; refuses a recipient whose local part says so: `reject550@...` -> 550,
    `busy451@...` -> 451."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("reject550@"):
            return "550 5.1.1 No such user here"
        if address.startswith("busy451@"):
            return "451 4.3.0 Mailbox temporarily unavailable, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data: Any = envelope.original_content or envelope.content
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos), bytes(data)))
        return "250 Message accepted for delivery"


def start_smtp(login: tuple[str, str] | None = None) -> tuple[Controller, RecordingSmtpHandler]:
    """A real SMTP server; with `login`, AUTH (PLAIN/LOGIN) is required and must match it."""
    handler = RecordingSmtpHandler()
    kwargs: dict[str, Any] = {}
    if login is not None:
        def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and \
                (auth_data.login.decode(), auth_data.password.decode()) == login
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535
        kwargs = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller, handler


def self_signed_cert(directory: Path, dns_name: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for `dns_name` (and nothing else), made by openssl."""
    cert, key = directory / f"{dns_name}.crt", directory / f"{dns_name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={dns_name}",
                    "-addext", f"subjectAltName=DNS:{dns_name}"], check=True, capture_output=True)
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx
