"""Reads of webhooks, events and deliveries, each list in a constant number of queries."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from alerts.models import AlertEvent, Delivery, DeliveryAttempt, DeliveryStatus, DependencyStatus, EventType, Webhook
from core.errors import NotFound


def webhook_list() -> QuerySet[Webhook]:
    counts = {status: Count("deliveries", filter=Q(deliveries__status=status)) for status in DeliveryStatus.values}
    return Webhook.objects.annotate(**{f"n_{status}": count for status, count in counts.items()}).order_by("name")


def webhook_get(webhook_id) -> Webhook:
    webhook = webhook_list().filter(id=webhook_id).first()
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id}")
    return webhook


def deliveries(*, webhook_id=None, status: str | None = None) -> QuerySet[Delivery]:
    rows = (Delivery.objects.select_related("event", "webhook")
            .prefetch_related(Prefetch("history", queryset=DeliveryAttempt.objects.order_by("number", "id")))
            .order_by("-created_at", "-id"))
    if webhook_id is not None:
        rows = rows.filter(webhook_id=webhook_id)
    return rows.filter(status=status) if status else rows


def delivery_get(delivery_id) -> Delivery:
    delivery = deliveries().filter(id=delivery_id).first()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


def events(*, type: str | None = None) -> QuerySet[AlertEvent]:
    rows = AlertEvent.objects.annotate(
        n_deliveries=Count("deliveries"),
        n_failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
    ).order_by("-at", "-id")
    return rows.filter(type=type) if type else rows


def due_deliveries(*, webhook_id=None, limit: int = 200) -> list[tuple[int, object, int]]:
    """(id, webhook id, attempts) of due, unclaimed deliveries of active webhooks (tests of any),
    oldest due first."""
    now = timezone.now()
    due = (Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, expires_at__gt=now)
           .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
           .filter(Q(webhook__active=True) | Q(event__type=EventType.TEST)))
    if webhook_id is not None:
        due = due.filter(webhook_id=webhook_id)
    return list(due.order_by("next_attempt_at", "id").values_list("id", "webhook_id", "attempts")[:limit])


def dependency_statuses() -> list[DependencyStatus]:
    return list(DependencyStatus.objects.order_by("name"))


def delivery_counts() -> dict[str, int]:
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in DeliveryStatus.values}
