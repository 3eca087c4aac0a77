"""Webhook signatures as Standard Webhooks defines them (https://www.standardwebhooks.com/):

    webhook-id:        the event id (the same for every attempt: receivers drop duplicates by it)
    webhook-timestamp: Unix seconds of this attempt (receivers refuse old ones: replays)
    webhook-signature: v1,<base64 of HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

A `whsec_…` secret's key is the base64 after the prefix (what the Standard Webhooks libraries
expect); any other secret is used as UTF-8 bytes. The README's "Alerts" section shows a receiver's
check in a few lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def key_of(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    return secret.encode()


def secret_problem(secret: str) -> str | None:
    """Why a secret cannot be used, or None."""
    if not 16 <= len(secret) <= 200:
        return "secret must be 16-200 characters"
    if secret.startswith(PREFIX):
        try:
            if len(key_of(secret)) < 16:
                return "a whsec_ secret must hold at least 16 bytes of base64"
        except (binascii.Error, ValueError):
            return "a whsec_ secret must be base64 after the prefix"
    return None


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, msg_id, timestamp, body)}
