"""The client address of a request: the one definition every throttle uses.

REMOTE_ADDR is the direct peer, the only address nobody can forge. X-Forwarded-For is read only
when that peer is one of TRUSTED_PROXIES, and then from the right: each trusted proxy appends
the address it was connected from, so the right-most entry that is not itself a trusted proxy
is the client. Entries further left were written by the client and are ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped or address


def _trusted(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request) -> str:
    peer_text = request.META.get("REMOTE_ADDR", "")
    peer = _parse(peer_text)
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not _trusted(peer, networks):
        return str(peer) if peer else peer_text
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _parse(hop)
        if address is None:  # a trusted proxy wrote nonsense: count the request against that proxy
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
