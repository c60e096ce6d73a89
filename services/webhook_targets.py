"""Where a webhook may be sent: never to the department's own network (SSRF).

A subscription's URL names a host the client chose; without a check, the scheduler would POST case data to
``http://127.0.0.1:5432``, to the cloud metadata address 169.254.169.254, or to any internal service. So every
address the host resolves to must be a public unicast address: loopback, private (RFC 1918, ULA), shared
(100.64/10), link-local, multicast, unspecified, reserved and documentation ranges are refused, for IPv4 and
IPv6, including IPv4 carried inside IPv6 (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``,
Teredo). Hosts on the administrators' allow-list (setting ``WEBHOOK_ALLOWED_HOSTS``, comma-separated; the
tests' receiver on 127.0.0.1) are exempt.

The check runs when a client subscribes and again at every delivery (DNS answers change). At delivery the
host is resolved once and the connection goes to the address that was checked (``PinnedTarget``), so a second
lookup cannot hand a different, internal address to the connection (DNS rebinding). Nothing here knows Flask.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.errors import N_

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SETTING = "WEBHOOK_ALLOWED_HOSTS"


class UnsafeTarget(Exception):
    """The URL may not receive webhooks; ``msgid`` % ``params`` says why (for the client), ``reason`` is the
    plain text kept in the delivery log."""

    def __init__(self, msgid: str, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.msgid, self.reason, self.params = msgid, reason, params


@dataclass(frozen=True)
class PinnedTarget:
    """A checked URL: its scheme, host (for the Host header and TLS), port, path and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def allowed_hosts(config: Mapping[str, Any] | None) -> frozenset[str]:
    """The allow-list from a setting (the config, else the environment): a comma-separated string or a list of
    host names / addresses."""
    value = (config or {}).get(SETTING) or os.environ.get(SETTING) or ""
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(_normal_host(str(item)) for item in items if str(item).strip())


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be a webhook's address (a short English word for the log), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return blocked_kind(inner)
        if ip.scope_id:
            return "link-local"
    for kind, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return kind
    if not ip.is_global:  # shared address space 100.64/10 and the like
        return "non-public"
    return None


def split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL; UnsafeTarget when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(N_("The webhook URL must be an http or https address with a host name."),
                           f"not an http(s) URL: {url[:200]}")
    if parts.username or parts.password:
        raise UnsafeTarget(N_("The webhook URL must not contain a user name or password."),
                           "credentials in the URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, _normal_host(parts.hostname), port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise UnsafeTarget(N_("The host %(host)s of the webhook URL cannot be resolved."),
                           f"{host} cannot be resolved: {err}", host=host) from None
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0])
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if "%" in text:  # a zone index: link-local by definition
            address = ipaddress.IPv6Address("fe80::1")
        if address not in addresses:
            addresses.append(address)
    return addresses


def check(url: str, allowed: Iterable[str] = ()) -> PinnedTarget:
    """The URL's target with the address to connect to; UnsafeTarget when any address the host resolves to
    is not public (and the host is not on the allow-list), or when it resolves to nothing."""
    scheme, host, port, path = split(url)
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeTarget(N_("The host %(host)s of the webhook URL cannot be resolved."),
                           f"{host} resolves to no address", host=host)
    if host not in {_normal_host(h) for h in allowed}:
        for address in addresses:
            kind = blocked_kind(address)
            if kind is not None:
                raise UnsafeTarget(
                    N_("The webhook URL's host %(host)s leads to an internal or reserved address (%(address)s); "
                       "only public addresses may receive webhooks."),
                    f"refused: {host} resolves to {address}, a {kind} address (not on {SETTING})",
                    host=host, address=str(address))
    return PinnedTarget(scheme, host, port, path, str(addresses[0]))
