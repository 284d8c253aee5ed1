"""The webhook SSRF guard against real HTTP receivers on 127.0.0.x: redirects are not followed,
the resolved address is the one connected to (DNS rebinding), and decimal, hexadecimal, short and
IPv4-mapped forms of a refused address are refused before anything is sent."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from scoring.errors import PermanentDeliveryError, RefusedTargetError
from streams.dev.stack import free_port
from streams.notify.channels.http import HttpPoster
from streams.notify.channels.ssrf import parse_networks


class Receiver:
    """A minimal HTTP/1.1 server: records each request's first line and Host, answers `reply`."""

    def __init__(self, host: str, reply: bytes, port: int | None = None) -> None:
        self.host, self.reply, self.port = host, reply, port or free_port(host)
        self.seen: list[tuple[str, str]] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        host = next((x.split(":", 1)[1].strip() for x in lines if x.lower().startswith("host:")), "")
        length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0)
        await reader.readexactly(length)
        self.seen.append((lines[0], host))
        writer.write(self.reply)
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def poster(allow: list[str]) -> HttpPoster:
    return HttpPoster("hook", connect_timeout=2.0, read_timeout=2.0, max_response_bytes=1024,
                      allow_networks=parse_networks(allow))


async def post(p: HttpPoster, url: str) -> Any:
    try:
        return await p.post(url, b"{}", {"Content-Type": "application/json"})
    finally:
        await p.aclose()


def test_a_redirect_is_not_followed() -> None:
    async def scenario() -> None:
        async with Receiver("127.0.0.2", OK) as inner:
            hop = f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:{inner.port}/admin\r\n" \
                  f"Content-Length: 0\r\nConnection: close\r\n\r\n"
            async with Receiver("127.0.0.1", hop.encode()) as outer:
                # both addresses allowed: only "never follow" stops the second hop
                with pytest.raises(PermanentDeliveryError, match="redirect"):
                    await post(poster(["127.0.0.1/32", "127.0.0.2/32"]), f"http://127.0.0.1:{outer.port}/hook")
                assert len(outer.seen) == 1
            assert inner.seen == []

    asyncio.run(scenario())


def test_the_checked_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers an allowed address to the check and another one after.
    The request goes to the first answer, and the name is resolved once per send."""
    answers: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.rebind.test":
            answers.append(host)
            host = "127.0.0.1" if len(answers) == 1 else "127.0.0.3"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)  # asyncio's getaddrinfo calls this

    async def scenario() -> None:
        good = Receiver("127.0.0.1", OK)
        async with good, Receiver("127.0.0.3", OK, port=good.port) as evil:
            port = good.port
            reply = await post(poster(["127.0.0.1/32"]), f"http://hooks.rebind.test:{port}/x")
            assert reply.status == 200
            assert good.seen == [("POST /x HTTP/1.1", f"hooks.rebind.test:{port}")]
            assert evil.seen == []
            assert answers == ["hooks.rebind.test"]  # httpx did not resolve the name again
            # the next send resolves again and gets the other answer: refused, nothing sent
            with pytest.raises(RefusedTargetError):
                await post(poster(["127.0.0.1/32"]), f"http://hooks.rebind.test:{port}/x")
            assert evil.seen == []

    asyncio.run(scenario())


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0x7f.0.0.1", "017700000001", "127.1",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]",
                                  "[64:ff9b::7f00:1]", "evil.example@127.0.0.1"])
def test_other_forms_of_a_loopback_address_are_refused_before_sending(host: str) -> None:
    async def scenario() -> None:
        async with Receiver("127.0.0.1", OK) as target:
            with pytest.raises(RefusedTargetError):
                await post(poster([]), f"http://{host}:{target.port}/x")
            assert target.seen == []

    asyncio.run(scenario())


@pytest.mark.parametrize("host", ["0177.0.0.1", "0x7f.1", "①②⑦.0.0.1"])
def test_forms_the_url_parser_rejects_are_permanent_errors_not_requests(host: str) -> None:
    async def scenario() -> None:
        async with Receiver("127.0.0.1", OK) as target:
            with pytest.raises((PermanentDeliveryError, RefusedTargetError)):
                await post(poster([]), f"http://{host}:{target.port}/x")
            assert target.seen == []

    asyncio.run(scenario())


def test_a_decimal_form_of_an_allowed_address_reaches_it() -> None:
    """The guard judges the address the name resolves to, whatever its spelling."""
    async def scenario() -> None:
        async with Receiver("127.0.0.1", OK) as target:
            reply = await post(poster(["127.0.0.1/32"]), f"http://2130706433:{target.port}/x")
            assert reply.status == 200 and len(target.seen) == 1

    asyncio.run(scenario())



@pytest.mark.parametrize("host", ["0", "0.0.0.0", "localhost", "[::1]", "[::]",
                                  "[::ffff:0:0]", "[::127.0.0.1]", "127.000.000.001"])
def test_names_and_spellings_that_reach_this_machine_are_refused(host: str) -> None:
    """0.0.0.0 and :: connect to this machine on Linux; ::127.0.0.1 is the deprecated IPv4-compatible
    form; 127.000.000.001 has zero-padded octets."""
    async def scenario() -> None:
        async with Receiver("127.0.0.1", OK) as target:
            with pytest.raises((RefusedTargetError, PermanentDeliveryError)):
                await post(poster([]), f"http://{host}:{target.port}/x")
            assert target.seen == []

    asyncio.run(scenario())


@pytest.mark.parametrize("host", ["2852039166", "0xa9fea9fe", "0xa9.0xfe.0xa9.0xfe", "169.254.43518",
                                  "[::ffff:a9fe:a9fe]", "[::ffff:169.254.169.254]"])
def test_other_spellings_of_the_metadata_address_are_refused_by_a_wide_allow_list(host: str) -> None:
    """169.254.169.254 needs its exact /32 entry, whatever the spelling of the URL's host."""
    async def scenario() -> None:
        with pytest.raises(RefusedTargetError, match="cloud metadata endpoint"):
            await post(poster(["169.254.0.0/16", "::ffff:0:0/96"]), f"http://{host}/latest/meta-data/")

    asyncio.run(scenario())
