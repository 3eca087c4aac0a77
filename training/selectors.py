"""Reads of training jobs."""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, QuerySet, Subquery

from core.errors import NotFound
from training.models import TrainingJob


def job_list(*, model_id: uuid.UUID | None = None, status: str | None = None) -> QuerySet[TrainingJob]:
    jobs = TrainingJob.objects.select_related("model", "version").order_by("-created_at", "-id")
    if model_id:
        jobs = jobs.filter(model_id=model_id)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def job_get(job_id: uuid.UUID | str) -> TrainingJob:
    try:
        return TrainingJob.objects.select_related("model", "version").get(id=job_id)
    except (TrainingJob.DoesNotExist, ValueError):
        raise NotFound(f"training job {job_id} not found") from None


def latest_jobs_by_model(model_ids) -> dict[uuid.UUID, TrainingJob]:
    """The newest job of each model, in one query (for list details)."""
    newest = TrainingJob.objects.filter(model_id=OuterRef("model_id")).order_by("-created_at", "-id").values("id")[:1]
    jobs = TrainingJob.objects.filter(model_id__in=list(model_ids), id=Subquery(newest))
    return {job.model_id: job for job in jobs}
