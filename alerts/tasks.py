"""django-q2 entry points of the alerts app."""

from __future__ import annotations


def deliver(delivery_id: int) -> str:
    from alerts import delivery

    return delivery.deliver(delivery_id)


def deliver_due(webhook_id: str | None = None) -> dict:
    from alerts import delivery

    return delivery.deliver_due(webhook_id=webhook_id)
