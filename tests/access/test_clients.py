"""The one definition of a request's client address."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from access.clients import client_address


def address(peer: str, forwarded: str | None = None) -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=peer, **headers))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert address("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_an_untrusted_peer_cannot_forge_its_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address("198.51.100.7", "203.0.113.9, 10.0.0.2") == "198.51.100.7"


@pytest.mark.parametrize(("forwarded", "client"), [
    ("203.0.113.9", "203.0.113.9"),
    ("1.1.1.1, 203.0.113.9", "203.0.113.9"),  # the left entry was written by the client: ignored
    ("1.1.1.1, 203.0.113.9, 10.0.0.3", "203.0.113.9"),  # two trusted proxies in a row
    ("10.0.0.4, 10.0.0.3", "10.0.0.4"),  # only proxies: the furthest one
    ("", "10.0.0.2"),
    ("203.0.113.9, not-an-address", "10.0.0.2"),  # nonsense from a proxy counts against the proxy
    (" 2001:db8::1 ", "2001:db8::1"),
])
def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client(settings, forwarded, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address("10.0.0.2", forwarded) == client


def test_ipv4_mapped_peers_match_ipv4_networks(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert address("::ffff:127.0.0.1", "203.0.113.9") == "203.0.113.9"
