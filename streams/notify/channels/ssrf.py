"""SSRF guard: an outbound HTTP channel only talks to public addresses unless told otherwise.

A channel's host is resolved once (`asyncio` getaddrinfo); if ANY resolved address is loopback,
private, link-local, multicast, reserved, unspecified, otherwise not globally routable, or a cloud
metadata endpoint -- including such an address wrapped in IPv6 (IPv4-mapped `::ffff:a.b.c.d`,
NAT64 `64:ff9b::/96`, 6to4, Teredo) -- the target is refused with `RefusedTargetError` and one
log line on `pulse.notifier` saying which channel, host, address, why, and how to allow it.

An address inside one of the channel's `allow_networks` CIDRs is let through. Cloud metadata
addresses (169.254.169.254, fd00:ec2::254, ...) are let through only when allow-listed as that
exact single address (`/32`, `/128`), never by a wider network such as 169.254.0.0/16 -- also
when wrapped in IPv6 (::ffff:169.254.169.254 is not let through by ::ffff:0:0/96 or ::/0).
tests/integration/test_ssrf_guard.py checks redirects, DNS rebinding and the decimal, hex, short
and IPv6-wrapped spellings of an address against real receivers.

The caller connects to the checked address itself (see `http.py`), so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence

from scoring.errors import RefusedTargetError, RetryableDeliveryError

log = logging.getLogger("pulse.notifier")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2",     # AWS ECS task metadata
    "fd00:ec2::254",     # AWS IMDS over IPv6
    "100.100.100.200",   # Alibaba Cloud
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_networks(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped, "IPv4-mapped"
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "NAT64"
    if addr.sixtofour is not None:
        return addr.sixtofour, "6to4"
    if addr.teredo is not None:
        return addr.teredo[1], "Teredo"
    return None


def _why_not_public(addr: IPAddress) -> str | None:
    if addr in METADATA_ADDRESSES:
        return "cloud metadata endpoint"
    for test, why in ((addr.is_unspecified, "unspecified"), (addr.is_loopback, "loopback"),
                      (addr.is_link_local, "link-local"), (addr.is_multicast, "multicast"),
                      (addr.is_private, "private"), (addr.is_reserved, "reserved")):
        if test:
            return why
    if not addr.is_global:
        return "not globally routable"
    return None


def _allowed(addr: IPAddress, allow: Sequence[IPNetwork]) -> bool:
    # (`in` between an address and a network of the other IP version compares bits, not
    # versions: checked first)
    if addr in METADATA_ADDRESSES:
        return any(net.num_addresses == 1 and addr.version == net.version and addr in net for net in allow)
    return any(addr.version == net.version and addr in net for net in allow)


def _allowed_as(cand: IPAddress, addr: IPAddress, allow: Sequence[IPNetwork]) -> bool:
    """`addr` (or the IPv4 address `cand` it wraps) is allow-listed. A wrapped metadata address
    (::ffff:169.254.169.254, 64:ff9b::a9fe:a9fe, 2002:a9fe:a9fe::) needs an exact single-address
    entry like the bare one: a wide IPv6 network (::ffff:0:0/96, ::/0) does not let it through."""
    if cand in METADATA_ADDRESSES or addr in METADATA_ADDRESSES:
        return any(net.num_addresses == 1 and a.version == net.version and a in net
                   for net in allow for a in (cand, addr))
    return _allowed(cand, allow) or _allowed(addr, allow)


def refusal_reason(addr: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why `addr` may not be contacted (e.g. "loopback"), or None when it may.

    An IPv4-mapped or NAT64 address is judged by the IPv4 address it carries (so allow-listing
    127.0.0.1/32 also allows ::ffff:127.0.0.1); 6to4 and Teredo addresses must pass both ways.
    """
    candidates: list[tuple[IPAddress, str]] = [(addr, "")]
    if isinstance(addr, ipaddress.IPv6Address) and (inner := _embedded_ipv4(addr)) is not None:
        wrapped = (inner[0], f"{inner[1]} {inner[0]}: ")
        candidates = [wrapped] if inner[1] in ("IPv4-mapped", "NAT64") else [*candidates, wrapped]
    for cand, prefix in candidates:
        why = _why_not_public(cand)
        if why is not None and not _allowed_as(cand, addr, allow):
            return prefix + why
    return None


async def resolve_checked(channel: str, host: str, port: int,
                          allow: Sequence[IPNetwork]) -> list[IPAddress]:
    """Resolve `host` and return its addresses, all of them permitted; raise otherwise.

    Raises `RefusedTargetError` (permanent) when any address is refused, and
    `RetryableDeliveryError` when the name does not resolve (DNS may be having a bad minute;
    the pipeline's bounded retries end in the dead-letter list if it stays that way).
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise RetryableDeliveryError(f"channel {channel!r}: cannot resolve host {host!r}: {e}") from e
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in addresses:
            addresses.append(addr)
    for addr in addresses:
        why = refusal_reason(addr, allow)
        if why is not None:
            single = f"{addr}/{addr.max_prefixlen}"
            log.warning(
                "SSRF guard refused channel %r: host %r resolves to %s (%s); if this destination is "
                "intended, add %r to allow_networks in [channels.%s]",
                channel, host, addr, why, single, channel)
            raise RefusedTargetError(
                f"channel {channel!r}: refused host {host!r}: it resolves to {addr} ({why}); "
                f"allow it with allow_networks = [{single!r}]")
    if not addresses:
        raise RetryableDeliveryError(f"channel {channel!r}: host {host!r} resolved to no address")
    return addresses
