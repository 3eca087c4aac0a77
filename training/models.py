"""Training jobs, their loss curves and their audit events."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from core.events import Event
from registry.models import ModelConfig, ModelVersion


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPhase(models.TextChoices):
    SURVEY = "survey", "surveying cells"
    FETCH = "fetch", "reading cells"
    FIT = "fit", "fitting"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrainingJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="training_jobs")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    lookback_seconds = models.PositiveIntegerField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=200, blank=True, help_text="why it was queued (api, admin, monitor…)")
    # Kept so a job queued again after a dead cluster (training_requeue_queued) keeps its hook.
    result_hook = models.CharField(max_length=200, blank=True, help_text="django-q2 result hook of its task")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Progress, written once per epoch by the worker.
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    val_loss = models.FloatField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Reading the data, written once per chunk of cells: which pass, and cells read of how many
    # (the survey reads every cell, the fetch the cells chosen; training.sampling).
    phase = models.CharField(max_length=16, choices=JobPhase.choices, blank=True, default="")
    cells_read = models.PositiveIntegerField(default=0)
    cells_to_read = models.PositiveIntegerField(default=0)
    # Which process runs it, and when it last showed life: how a dead worker's job is found.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    data_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "status"])]

    def __str__(self) -> str:
        return f"job {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class TrainingEpoch(models.Model):
    """One point of a job's loss curve: appended once per epoch, never rewritten."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField()
    val_loss = models.FloatField()

    class Meta:
        ordering = ["job", "epoch"]
        constraints = [models.UniqueConstraint(fields=["job", "epoch"], name="training_epoch_once_per_job")]

    def __str__(self) -> str:
        return f"job {self.job_id} epoch {self.epoch}"


class JobEvent(Event):
    """Audit row for a job transition; keeps ids so it outlives the job and the model."""

    job_id = models.UUIDField(db_index=True)
    model_id = models.UUIDField(db_index=True)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
