"""One HTTP POST, guarded and classified: the part the Slack and webhook channels share.

`HttpPoster.post` resolves the host through the SSRF guard, connects to the checked IP address
(the URL's host is swapped for the IP; the `Host` header and TLS SNI/certificate check keep the
original name), never follows redirects, reads at most `max_response_bytes` of the response, and
turns every outcome into either a return (2xx) or one `DeliveryError`:

    2xx                       ok
    408, 429, 5xx             RetryableDeliveryError (retry_after from Retry-After, either form)
    3xx                       PermanentDeliveryError (redirects are not followed)
    TLS certificate rejected  PermanentDeliveryError (retrying will not fix it; `ca_file` might)
    other 4xx                 PermanentDeliveryError
    timeout, connection error RetryableDeliveryError
    SSRF refusal              RefusedTargetError

Error messages name the channel and the host, never the full URL (a Slack webhook URL is a
credential) and never a request header.
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from scoring.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from streams.notify.channels.config import _HttpOptions
from streams.notify.channels.ssrf import IPAddress, IPNetwork, parse_networks, resolve_checked

USER_AGENT = "customer-pulse-notifier/0.1"
RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_ADDRESSES = 4  # resolved addresses tried in turn when a connection is refused


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes        # at most max_response_bytes
    truncated: bool    # the receiver sent more than that; the rest was not read


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP-date; None if absent
    or unparseable. A date in the past gives 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace")
    return " ".join(text.split())


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    for _ in range(10):  # httpx -> httpcore -> ssl: a short chain
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class HttpPoster:
    """A pooled httpx client for one channel, with its SSRF allow-list, timeouts and read cap."""

    def __init__(self, channel: str, *, connect_timeout: float, read_timeout: float,
                 max_response_bytes: int, allow_networks: tuple[IPNetwork, ...],
                 ca_file: str | None = None) -> None:
        self.channel = channel
        self.allow_networks = allow_networks
        self.max_response_bytes = max_response_bytes
        # The whole exchange is bounded too: a receiver dripping one byte per second would never
        # trip the per-read timeout.
        self.total_timeout = connect_timeout + 2 * read_timeout
        try:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"channel {channel!r}: ca_file {ca_file!r} cannot be loaded: {e}") from None
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                                  pool=connect_timeout),
            verify=verify,
            trust_env=False,  # no proxy from the environment: the SSRF check must see the real target
            headers={"User-Agent": USER_AGENT},
        )

    @classmethod
    def for_channel(cls, channel: str, config: _HttpOptions) -> HttpPoster:
        """The poster of a Slack or webhook channel, from the HTTP options both configs share."""
        return cls(channel, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                   max_response_bytes=config.max_response_bytes,
                   allow_networks=parse_networks(config.allow_networks), ca_file=config.ca_file)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        """POST `body` to `url`; return the reply if 2xx, raise a `DeliveryError` otherwise."""
        try:
            target = httpx.URL(url)
            host = target.raw_host.decode("ascii")
            port = target.port or (443 if target.scheme == "https" else 80)
        except (httpx.InvalidURL, UnicodeError) as e:  # message without the URL (it may be a secret)
            raise PermanentDeliveryError(f"channel {self.channel!r}: the URL is not usable: "
                                         f"{type(e).__name__}") from None
        where = f"channel {self.channel!r}: POST to {host}"
        addresses = await resolve_checked(self.channel, host, port, self.allow_networks)
        try:
            async with asyncio.timeout(self.total_timeout):
                response = await self._open(target, addresses[:MAX_ADDRESSES], body, headers)
                try:
                    reply = await self._read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as e:
            raise RetryableDeliveryError(f"{where} timed out ({type(e).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise PermanentDeliveryError(f"{where}: {e}") from None
        except httpx.TransportError as e:
            if (bad_cert := _cert_error(e)) is not None:
                raise PermanentDeliveryError(
                    f"{where}: TLS certificate rejected ({bad_cert.verify_message}); fix the "
                    f"certificate or set ca_file to the CA that signed it") from None
            raise RetryableDeliveryError(f"{where} failed: {type(e).__name__}: {e}") from None
        self._classify(where, response, reply)
        return reply

    async def _open(self, target: httpx.URL, addresses: list[IPAddress], body: bytes,
                    headers: Mapping[str, str]) -> httpx.Response:
        """Send to the first checked address that takes the connection. Trying the next address
        after a failed connect is safe: nothing was sent yet (e.g. "localhost" -> ::1, 127.0.0.1)."""
        request_headers = {**headers, "Host": target.netloc.decode("ascii")}
        extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
        for i, addr in enumerate(addresses):
            request = self._client.build_request("POST", target.copy_with(host=str(addr)), content=body,
                                                 headers=request_headers, extensions=extensions)
            try:
                return await self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("resolve_checked returns at least one address")

    async def _read(self, response: httpx.Response) -> HttpReply:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        async for chunk in response.aiter_raw():
            if size + len(chunk) > self.max_response_bytes:
                chunks.append(chunk[:self.max_response_bytes - size])
                truncated = True
                break
            chunks.append(chunk)
            size += len(chunk)
        return HttpReply(response.status_code, b"".join(chunks), truncated)

    @staticmethod
    def _classify(where: str, response: httpx.Response, reply: HttpReply) -> None:
        status = reply.status
        if 200 <= status < 300:
            return
        said = f"HTTP {status}" + (f": {_snippet(reply.body)}" if reply.body else "")
        if status >= 500 or status in RETRYABLE_STATUS:
            raise RetryableDeliveryError(f"{where} answered {said}", status=status,
                                         retry_after=parse_retry_after(response.headers.get("retry-after")))
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            raise PermanentDeliveryError(
                f"{where} answered a redirect ({status} to {location}); redirects are not followed, "
                f"configure the final URL", status=status)
        raise PermanentDeliveryError(f"{where} answered {said}", status=status)
