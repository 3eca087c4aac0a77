"""Where a webhook may send: public addresses, and the networks ALERTS_WEBHOOK_ALLOWED_NETWORKS
lists. An operator's webhook URL must not turn the worker into a proxy into the private network
(server-side request forgery: cloud metadata at 169.254.169.254, databases, admin ports).

Checked twice: an address written in the URL when the webhook is saved, and every address its
host name resolves to just before each attempt (a name can point anywhere, and change). The
connection then resolves the name again; a name that changes between the check and the connect
(DNS rebinding) is not covered.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _allowed(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def address_problem(address: Address) -> str | None:
    """Why a webhook may not reach this address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed(tuple(settings.ALERTS_WEBHOOK_ALLOWED_NETWORKS))):
        return None
    if address.is_global and not address.is_multicast:
        return None
    kind = next((k for k in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved")
                 if getattr(address, f"is_{k}")), "non-public")
    return (f"{address} is a {kind.replace('_', '-')} address: webhooks may not reach it unless "
            "ALERTS_WEBHOOK_ALLOWED_NETWORKS lists it")


def literal_problem(url: str) -> str | None:
    """For a URL whose host is an IP address: whether it may be reached (names are checked when sending)."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address_problem(address)


def resolved_problem(url: str) -> str | None:
    """Every address the URL's host resolves to now must be allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except OSError as error:
        return f"{host} does not resolve: {error}"
    for *_, sockaddr in found:
        problem = address_problem(ipaddress.ip_address(sockaddr[0]))
        if problem:
            return f"{host} resolves to {problem}" if host != sockaddr[0] else problem
    return None
