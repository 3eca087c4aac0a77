"""Reads of training jobs."""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, QuerySet, Subquery

from core.errors import NotFound
from training.models import TrainingJob


def job_list(*, model_id: uuid.UUID | None = None, status: str | None = None,
             with_curves: bool = False) -> QuerySet[TrainingJob]:
    """Newest first; `with_curves` fetches every listed job's loss curve in one more query."""
    jobs = TrainingJob.objects.select_related("model", "version").order_by("-created_at", "-id")
    if with_curves:
        jobs = jobs.prefetch_related("epochs")
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


def job_curve(job: TrainingJob) -> list[dict]:
    """The job's loss per epoch, in order (prefetched rows when `job_list(with_curves=True)` read them)."""
    return [{"epoch": e.epoch, "train_loss": e.train_loss, "val_loss": e.val_loss} for e in job.epochs.all()]


def latest_jobs_by_model(model_ids) -> dict[uuid.UUID, TrainingJob]:
    """The newest job of each model, in one query (for list details)."""
    newest = TrainingJob.objects.filter(model_id=OuterRef("model_id")).order_by("-created_at", "-id").values("id")[:1]
    jobs = TrainingJob.objects.filter(model_id__in=list(model_ids), id=Subquery(newest))
    return {job.model_id: job for job in jobs}
