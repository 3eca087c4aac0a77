"""Per-cell error sums of an evaluation: written with its ScoreRecords, pruned with the history."""

from __future__ import annotations

import math
from datetime import timedelta

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from performance.models import CellScore, ScoreRecord, Trigger
from performance.scoring import ModelScore

BATCH = 5000


def _value(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def cell_scores_write(*, records: list[ScoreRecord], results: list[ModelScore]) -> int:
    """One CellScore per (record, cell) in bulk; called inside the evaluation's transaction, so
    the rows exist exactly when their ScoreRecords do. `records[i]` was written for `results[i]`."""
    columns = ["record_id", "cell", *CellScore.SUMS]
    rows = [(record.id, cell, *(_value(sums[k]) for k in CellScore.SUMS))
            for record, result in zip(records, results, strict=True) if record.score is not None
            for cell, sums in result.cell_sums.items()]
    if connection.vendor == "postgresql":
        # COPY, in the caller's transaction: ~100,000 rows per evaluation of a large network, and
        # the ORM's per-value preparation costs more than the database does.
        with connection.cursor() as cursor, cursor.copy(
                f"COPY {CellScore._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        CellScore.objects.bulk_create([CellScore(**dict(zip(columns, row, strict=True))) for row in rows],
                                      batch_size=BATCH)
    return len(rows)


def cell_scores_prune(*, older_than_days: int) -> int:
    """Delete the per-cell rows of evaluations older than the retention, except each field's
    newest evaluation (its page and `/cells` read it). Batched, like the rest of the history."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    # Only evaluations write cells, so each field's newest evaluation is found without the join.
    newest = (ScoreRecord.objects.filter(trigger__in=[Trigger.EVALUATE, Trigger.AUTO_EVALUATE])
              .values("field").annotate(at=Max("measured_at")))
    keep = ScoreRecord.objects.none()
    for row in newest:
        keep = keep | ScoreRecord.objects.filter(field=row["field"], measured_at=row["at"])
    stale = CellScore.objects.filter(record__measured_at__lt=cutoff).exclude(record__in=keep.values("id"))
    deleted = 0
    while ids := list(stale.values_list("id", flat=True)[:BATCH]):
        deleted += CellScore.objects.filter(id__in=ids).delete()[0]
    return deleted
