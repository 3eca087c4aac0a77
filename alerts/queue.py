"""Handing deliveries to django-q2: one task per delivery, so a slow receiver holds one worker
for one attempt at most, and the others go on."""

from __future__ import annotations

import math

from django.conf import settings


def task_timeout() -> int:
    """django-q2's hard stop for one attempt: well past the attempt's own deadline."""
    return math.ceil(settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS) + 30


def enqueue(delivery_ids: list[int]) -> None:
    """One task per delivery. Several are handed over as one task that queues them from a
    worker, so the emitting transaction's commit pays for one broker write, not one per webhook."""
    from django_q.tasks import async_task

    if len(delivery_ids) > 1:
        async_task("alerts.tasks.fan_out", list(delivery_ids), task_name="alert-deliveries", group="alerts")
        return
    for delivery_id in delivery_ids:
        async_task("alerts.tasks.deliver", delivery_id, task_name=f"alert-delivery-{delivery_id}", group="alerts",
                   timeout=task_timeout())


def fan_out(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        enqueue([delivery_id])


def enqueue_due(webhook_id: str | None = None) -> None:
    from django_q.tasks import async_task

    async_task("alerts.tasks.deliver_due", *([webhook_id] if webhook_id else []), task_name="alert-deliveries-due",
               group="alerts")
