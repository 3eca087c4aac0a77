"""History retention: the monitoring loop's routine rows are pruned after HISTORY_RETENTION_DAYS.

A field checked every 5 minutes writes ~290 score rows and ~290 check events a day. Those
routine rows (`auto_monitor` scores that elected nothing, `check` and `no_data` events) age
out; everything that tells the field's story stays: evaluations, elections, set-best scores,
transitions, errors and rebaselines. Alert events go too once their deliveries have ended
(`alerts.retention`). Deleted in batches so no lock is held for long.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from alerts.retention import alerts_prune
from performance.models import MonitorEvent, ScoreRecord, Trigger
from performance.services.cells import cell_scores_prune

log = logging.getLogger(__name__)
BATCH = 5000


@dataclass
class Pruned:
    scores: int = 0
    events: int = 0
    cells: int = 0  # per-cell rows of old evaluations (performance/services/cells.py)
    alerts: int = 0  # finished alert events, with their deliveries (alerts/retention.py)


def _delete_in_batches(queryset) -> int:
    deleted = 0
    while ids := list(queryset.values_list("id", flat=True)[:BATCH]):
        deleted += queryset.model.objects.filter(id__in=ids).delete()[0]
    return deleted


def history_prune(*, older_than_days: int | None = None) -> Pruned:
    """Delete routine monitoring rows older than the retention (0 keeps everything)."""
    days = settings.HISTORY_RETENTION_DAYS if older_than_days is None else older_than_days
    if days <= 0:
        return Pruned()
    cutoff = timezone.now() - timedelta(days=days)
    pruned = Pruned(
        scores=_delete_in_batches(ScoreRecord.objects.filter(
            measured_at__lt=cutoff, trigger=Trigger.AUTO_MONITOR, elected=False)),
        events=_delete_in_batches(MonitorEvent.objects.filter(
            at__lt=cutoff, kind__in=[MonitorEvent.Kind.CHECK, MonitorEvent.Kind.NO_DATA])),
        cells=cell_scores_prune(older_than_days=days),
        alerts=alerts_prune(older_than_days=days),
    )
    log.info("history older than %s days pruned: %s score rows, %s check events, %s alert events", days,
             pruned.scores, pruned.events, pruned.alerts)
    return pruned
