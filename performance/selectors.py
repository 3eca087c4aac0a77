"""Reads of scores, evaluations and monitor states."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from performance.models import FieldEvent, FieldMonitor, ScoreRecord, Trigger
from registry.models import ModelConfig
from training.models import ACTIVE, TrainingJob

EVALUATION_TRIGGERS = (Trigger.EVALUATE, Trigger.AUTO_EVALUATE)


def last_evaluation(field: str) -> list[ScoreRecord]:
    latest = (ScoreRecord.objects.filter(field=field, trigger__in=EVALUATION_TRIGGERS)
              .order_by("-measured_at", "-id").values_list("evaluation", flat=True).first())
    if latest is None:
        return []
    return list(ScoreRecord.objects.filter(evaluation=latest).order_by("rank", "id"))


def history(field: str, model_id=None) -> QuerySet[ScoreRecord]:
    records = ScoreRecord.objects.filter(field=field).order_by("measured_at", "id")
    return records.filter(model_id=model_id) if model_id else records


def latest_score(field: str, model_id, version: int | None = None) -> ScoreRecord | None:
    records = ScoreRecord.objects.filter(field=field, model_id=model_id, score__isnull=False)
    if version is not None:
        records = records.filter(version=version)
    return records.order_by("-measured_at", "-id").first()


def latest_scores_by_model(model_ids) -> list[ScoreRecord]:
    """The newest record of each (model, field) pair, in one query."""
    newest = (ScoreRecord.objects.filter(model_id=OuterRef("model_id"), field=OuterRef("field"))
              .order_by("-measured_at", "-id").values("id")[:1])
    return list(ScoreRecord.objects.filter(model_id__in=list(model_ids), id=Subquery(newest)))


def monitor(field: str) -> FieldMonitor | None:
    return FieldMonitor.objects.filter(field=field).first()


def active_jobs(field: str) -> list[TrainingJob]:
    models = ModelConfig.objects.filter(fields__role="output", fields__name=field).values("id")
    return list(TrainingJob.objects.filter(model_id__in=models, status__in=ACTIVE).order_by("created_at"))


def field_events(field: str) -> QuerySet[FieldEvent]:
    return FieldEvent.objects.filter(field=field).order_by("at", "id")
