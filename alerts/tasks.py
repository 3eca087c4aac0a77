"""django-q2 entry points of the alerts app."""

from __future__ import annotations


def deliver(delivery_id: int) -> str:
    from alerts import delivery

    return delivery.deliver(delivery_id)


def deliver_due(webhook_id: str | None = None) -> dict:
    from alerts import delivery

    return delivery.deliver_due(webhook_id=webhook_id)


def fan_out(delivery_ids: list[int]) -> int:
    from alerts import queue

    queue.fan_out(delivery_ids)
    return len(delivery_ids)
