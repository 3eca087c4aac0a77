"""Absolute links for payloads: the page paths under PUBLIC_BASE_URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def absolute(path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/" + path.lstrip("/")


def origin(url: str) -> str:
    """What non-operators see of a webhook URL: the scheme and host (URLs such as Slack's hold a
    secret in the path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
