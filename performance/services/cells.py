"""Per-cell error sums of an evaluation: written with its ScoreRecords, pruned with the history."""

from __future__ import annotations

import math
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from performance.models import CellScore, ScoreRecord
from performance.scoring import ModelScore

BATCH = 5000


def _value(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def cell_scores_write(*, records: list[ScoreRecord], results: list[ModelScore]) -> int:
    """One CellScore per (record, cell) in bulk; called inside the evaluation's transaction, so
    the rows exist exactly when their ScoreRecords do. `records[i]` was written for `results[i]`."""
    rows = []
    for record, result in zip(records, results, strict=True):
        if record.score is None:
            continue
        for cell, sums in result.cell_sums.items():
            rows.append(CellScore(record=record, cell=cell, **{k: _value(v) for k, v in sums.items()}))
    CellScore.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def cell_scores_prune(*, older_than_days: int) -> int:
    """Delete the per-cell rows of evaluations older than the retention, except each field's
    newest evaluation (its page and `/cells` read it). Batched, like the rest of the history."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    newest = ScoreRecord.objects.filter(cell_scores__isnull=False).values("field").annotate(at=Max("measured_at"))
    keep = ScoreRecord.objects.none()
    for row in newest:
        keep = keep | ScoreRecord.objects.filter(field=row["field"], measured_at=row["at"])
    stale = CellScore.objects.filter(record__measured_at__lt=cutoff).exclude(record__in=keep.values("id"))
    deleted = 0
    while ids := list(stale.values_list("id", flat=True)[:BATCH]):
        deleted += CellScore.objects.filter(id__in=ids).delete()[0]
    return deleted
