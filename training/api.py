"""/v1/training: queue, list, inspect and cancel training jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ninja import Field, Query, Router, Schema, Status

from access.auth import READ_AUTH, WRITE_AUTH, caller
from access.paging import Page, PageParams, page_of
from access.responses import errors
from registry import selectors as registry_selectors
from training import selectors, services
from training.models import JobStatus, TrainingJob

router = Router(tags=["training"])


_LOOKBACK_MIN, _LOOKBACK_MAX = services.lookback_range()  # the settings' bounds, read at start-up


class TrainIn(Schema):
    model_id: uuid.UUID
    lookback_seconds: int | None = Field(
        None, ge=_LOOKBACK_MIN, le=_LOOKBACK_MAX,
        description=f"history to train on, {_LOOKBACK_MIN}-{_LOOKBACK_MAX} s (TRAINING_MIN/MAX_LOOKBACK_SECONDS); "
                    "default TRAINING_DEFAULT_LOOKBACK_SECONDS",
    )


class JobOut(Schema):
    id: uuid.UUID
    model_id: uuid.UUID
    model_name: str
    status: str
    lookback_seconds: int
    reason: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str
    mlflow_run_id: str = Field(description="empty until the MLflow mirror has logged the run")
    mlflow_mirror: Literal["pending", "synced"] | None = Field(
        description="for a job that trained a version: whether MLflow has its run and version yet")
    version: int | None
    epoch: int
    total_epochs: int
    train_loss: float | None
    val_loss: float | None
    cancel_requested: bool
    phase: Literal["", "survey", "fetch", "fit"] = Field(
        description="what a running job does: survey (a quick read of every cell to sort them into kinds), "
                    "fetch (reading the chosen cells' history), fit; empty before it starts")
    cells_read: int = Field(description="cells read so far in the survey or fetch phase")
    cells_to_read: int = Field(description="cells that phase reads (at most TRAINING_MAX_CELLS in the fetch)")
    data_summary: dict


class EpochOut(Schema):
    epoch: int
    train_loss: float
    val_loss: float


class JobDetailOut(JobOut):
    history: list[EpochOut] = Field(description="the loss curve: one row per epoch run so far")


def job_out(job: TrainingJob) -> dict:
    return {
        "id": job.id, "model_id": job.model_id, "model_name": job.model.name, "status": job.status,
        "lookback_seconds": job.lookback_seconds, "reason": job.reason, "created_at": job.created_at,
        "started_at": job.started_at, "completed_at": job.completed_at, "error_message": job.error_message,
        "mlflow_run_id": job.mlflow_run_id, "version": job.version.version if job.version else None,
        "mlflow_mirror": None if job.version is None else "pending" if job.version.mlflow_pending else "synced",
        "epoch": job.epoch, "total_epochs": job.total_epochs, "train_loss": job.train_loss,
        "val_loss": job.val_loss, "cancel_requested": job.cancel_requested, "phase": job.phase,
        "cells_read": job.cells_read, "cells_to_read": job.cells_to_read, "data_summary": job.data_summary,
    }


@router.post("/train", response={202: JobOut, **errors(400, 401, 403, 404, 409, 422, 503)}, auth=WRITE_AUTH)
def train(request, body: TrainIn):
    """Queue a training job (202). 404 unknown model, 409 while the model has an active job."""
    model = registry_selectors.model_get(body.model_id)
    job = services.training_job_create(model=model, lookback_seconds=body.lookback_seconds,
                                       user=caller(request), reason="api")
    return Status(202, job_out(selectors.job_get(job.id)))

# Literals built from the choices at run time (the schema lists them); mypy sees plain strings.
if TYPE_CHECKING:
    JobStatusName = str
else:
    JobStatusName = Literal[tuple(JobStatus.values)]


class JobFilters(Schema):
    model_id: uuid.UUID | None = None
    status: JobStatusName | None = Field(
        None, description="queued, running, completed, failed or cancelled"
    )


@router.get("/jobs", response={200: Page[JobOut], **errors(401, 422, 503)}, auth=READ_AUTH)
def list_jobs(request, filters: Query[JobFilters], paging: Query[PageParams]):
    """Newest first."""
    page = page_of(selectors.job_list(model_id=filters.model_id, status=filters.status), paging)
    page["items"] = [job_out(j) for j in page["items"]]
    return page


@router.get("/jobs/{job_id}", response={200: JobDetailOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def get_job(request, job_id: uuid.UUID):
    """The job with its loss curve."""
    job = selectors.job_get(job_id)
    return {**job_out(job), "history": selectors.job_curve(job)}


@router.delete("/jobs/{job_id}", response={200: JobOut, **errors(401, 403, 404, 409, 422, 503)}, auth=WRITE_AUTH)
def cancel_job(request, job_id: uuid.UUID):
    """Queued: cancelled at once. Running: stops within one epoch (or chunk of cells while it reads
    data). Finished: 409."""
    job = services.training_job_cancel(job=selectors.job_get(job_id), user=caller(request))
    return job_out(selectors.job_get(job.id))

