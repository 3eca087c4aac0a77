"""Alert history ages out with the monitoring history (HISTORY_RETENTION_DAYS): an event older
than the retention goes with its deliveries and their attempts once none of them is still
pending (a delivery still being retried keeps its event)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from alerts.models import AlertEvent, Delivery, DeliveryStatus

BATCH = 2000


def alerts_prune(*, older_than_days: int) -> int:
    """Delete finished alert events older than the retention; returns how many events went."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    pending = Delivery.objects.filter(event=OuterRef("pk"), status=DeliveryStatus.PENDING)
    old = AlertEvent.objects.filter(at__lt=cutoff).exclude(Exists(pending))
    deleted = 0
    while ids := list(old.values_list("id", flat=True)[:BATCH]):
        AlertEvent.objects.filter(id__in=ids).delete()  # deliveries and attempts cascade
        deleted += len(ids)
    return deleted
