"""Every training-job transition. Each is guarded by a conditional update on the status, so
two workers (or a worker and an API call) can never both move the same job, and each writes
a `JobEvent`. Ending a job, however it ends, releases the model's training lock."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import processes
from core.errors import Conflict, DomainError, Invalid
from core.events import actor_name, user_row
from core.types import Actor, JobId
from registry import selectors as registry_selectors, services as registry_services
from registry.models import ModelConfig, ModelVersion
from training import notifications
from training.architectures import spec
from training.models import ACTIVE, JobEvent, JobPhase, JobStatus, TrainingEpoch, TrainingJob


def worker_id() -> str:
    """host[/CELLWISE_WORKER_NAME]:pid — recovery reads the host and pid back."""
    label = os.environ.get("CELLWISE_WORKER_NAME", "")
    return f"{socket.gethostname()}{'/' + label if label else ''}:{os.getpid()}"


def _event(job: TrainingJob, *, kind: str, actor: str, message: str, from_status: str = "",
           to_status: str = "", **details) -> None:
    JobEvent.objects.create(job_id=job.id, model_id=job.model_id, kind=kind, actor=actor, message=message,
                            from_status=from_status, to_status=to_status, details=details)


def _move(job_id: JobId, *, from_statuses, to_status: str, only_if: dict | None = None, **fields) -> bool:
    """The guarded transition: True when this caller moved the job."""
    jobs = TrainingJob.objects.filter(id=job_id, status__in=from_statuses, **(only_if or {}))
    return bool(jobs.update(status=to_status, **fields))


def lookback_range() -> tuple[int, int]:
    return settings.TRAINING_MIN_LOOKBACK_SECONDS, settings.TRAINING_MAX_LOOKBACK_SECONDS


@transaction.atomic
def training_job_create(*, model: ModelConfig, lookback_seconds: int | None = None, user: Actor = None,
                        reason: str = "api", hook: str | None = None) -> TrainingJob:
    """Queue a job: take the model's training lock (409 naming the active job if it is held).

    `hook` is a django-q2 result hook (a dotted function path) called once the task has run.
    """
    low, high = lookback_range()
    lookback = settings.TRAINING_DEFAULT_LOOKBACK_SECONDS if lookback_seconds is None else lookback_seconds
    if not isinstance(lookback, int) or isinstance(lookback, bool) or not low <= lookback <= high:
        raise Invalid(f"lookback_seconds must be an integer from {low} to {high} (got {lookback_seconds!r})")
    if not registry_services.model_training_lock_take(model_id=model.id):
        active = TrainingJob.objects.filter(model_id=model.id, status__in=ACTIVE).first()
        detail = f"job {active.id} is {active.status}" if active else "its training lock is held"
        raise Conflict(f"model {model.name!r} is already training: {detail}",
                       job_id=str(active.id) if active else None)
    job = TrainingJob.objects.create(model=model, lookback_seconds=lookback,
                                     total_epochs=spec(model.architecture).epochs(model.epochs),
                                     requested_by=user_row(user), reason=reason, result_hook=hook or "")
    _event(job, kind="queued", actor=actor_name(user), message=f"training of {model.name} queued ({reason})",
           to_status=JobStatus.QUEUED, lookback_seconds=lookback)
    transaction.on_commit(lambda: _enqueue(job))
    if settings.NAIVE_MODELS_AUTO and not model.is_naive:
        _train_untrained_naive_siblings(model=model, lookback_seconds=lookback, user=user, hook=hook)
    return job


def _train_untrained_naive_siblings(*, model: ModelConfig, lookback_seconds: int, user: Actor,
                                    hook: str | None) -> None:
    """The naive forecasters a learned model is held to (`registry.services.naive_forecasters_ensure`)
    are trained with its first job: no version yet and no job of their own running. Their jobs fit
    nothing; they share the learned job's hook, so "evaluate after the field's last job" waits for them."""
    for sibling in registry_selectors.naive_siblings(model):
        if sibling.versions.exists():
            continue
        try:
            training_job_create(model=sibling, lookback_seconds=lookback_seconds, user=user,
                                reason=f"naive forecaster beside {model.name}", hook=hook)
        except Conflict:
            pass  # its training lock is held: a job of its own is queued or running already


def _enqueue(job: TrainingJob) -> None:
    from django_q.tasks import async_task

    async_task("training.tasks.run_training_job", str(job.id), task_name=f"train-{job.model.name}-{job.id}",
               group="training", timeout=settings.Q_TASK_TIMEOUT_SECONDS, hook=job.result_hook or None)


def training_job_claim(*, job_id: JobId, worker: str) -> TrainingJob | None:
    """queued → running for exactly one worker; None when the job is not queued any more."""
    now = timezone.now()
    if not _move(job_id, from_statuses=[JobStatus.QUEUED], to_status=JobStatus.RUNNING,
                 started_at=now, worker=worker, heartbeat_at=now):
        return None
    job = TrainingJob.objects.select_related("model").get(id=job_id)
    _event(job, kind="started", actor=worker, message=f"running on {worker}",
           from_status=JobStatus.QUEUED, to_status=JobStatus.RUNNING)
    return job


@transaction.atomic
def training_job_progress(*, job_id: JobId, epoch: int, train_loss: float, val_loss: float) -> bool:
    """Record one epoch: the job row's latest losses (one UPDATE, guarded by the cancel flag) and
    one appended curve row, so an epoch costs the same however long the curve. False when a cancel
    was requested."""
    running = TrainingJob.objects.filter(id=job_id, status=JobStatus.RUNNING, cancel_requested=False)
    if not running.update(epoch=epoch, train_loss=train_loss, val_loss=val_loss, heartbeat_at=timezone.now()):
        return False
    TrainingEpoch.objects.create(job_id=job_id, epoch=epoch, train_loss=train_loss, val_loss=val_loss)
    return True


def training_job_fetch_progress(*, job_id: JobId, phase: str, done: int, total: int) -> bool:
    """Cells read of how many in this phase (one UPDATE per chunk, also a heartbeat); False when
    a cancel was requested, so the worker stops reading."""
    return bool(TrainingJob.objects.filter(id=job_id, status=JobStatus.RUNNING, cancel_requested=False).update(
        phase=phase, cells_read=done, cells_to_read=total, heartbeat_at=timezone.now()
    ))


@transaction.atomic
def training_job_complete(*, job_id: JobId, version: ModelVersion, summary: dict) -> bool:
    """Running → completed with its version. False when the job was ended elsewhere or a cancel
    arrived after the last epoch (a cancel is honoured until the job completes). Its MLflow run
    is logged afterwards by the mirror (`training.tracking`)."""
    job = TrainingJob.objects.get(id=job_id)
    if not _move(job_id, from_statuses=[JobStatus.RUNNING], to_status=JobStatus.COMPLETED,
                 only_if={"cancel_requested": False},
                 completed_at=timezone.now(), version=version, data_summary=summary):
        return False
    registry_services.model_training_lock_release(model_id=job.model_id)
    _event(job, kind="completed", actor=job.worker or "worker", message=f"version {version.version} trained",
           from_status=JobStatus.RUNNING, to_status=JobStatus.COMPLETED, version=version.version)
    return True


@transaction.atomic
def training_job_mlflow_record(*, job_id: JobId, run_id: str) -> bool:
    """The MLflow mirror logged the completed job's run. False when the job is gone."""
    job = TrainingJob.objects.filter(id=job_id).first()
    if job is None or not TrainingJob.objects.filter(id=job_id).update(mlflow_run_id=run_id):
        return False
    _event(job, kind="mlflow_logged", actor="mlflow-mirror", message=f"MLflow run {run_id} logged",
           mlflow_run_id=run_id)
    return True


@transaction.atomic
def training_job_fail(*, job_id: JobId, error: str, actor: str = "worker") -> bool:
    """Any active job → failed with a readable error; the lock is released."""
    job = TrainingJob.objects.filter(id=job_id).first()
    if job is None or not _move(job_id, from_statuses=list(ACTIVE), to_status=JobStatus.FAILED,
                                completed_at=timezone.now(), error_message=error[:5000]):
        return False
    registry_services.model_training_lock_release(model_id=job.model_id)
    _event(job, kind="failed", actor=actor, message=error[:500], from_status=job.status, to_status=JobStatus.FAILED)
    notifications.job_failed(job=job, error=error)
    return True


@transaction.atomic
def training_job_cancel(*, job: TrainingJob, user: Actor = None) -> TrainingJob:
    """Queued: cancelled at once. Running: flagged; the worker stops within one epoch (or, while
    it reads data, one chunk of cells)."""
    actor = actor_name(user)
    if _move(job.id, from_statuses=[JobStatus.QUEUED], to_status=JobStatus.CANCELLED, completed_at=timezone.now(),
             cancel_requested=True):
        registry_services.model_training_lock_release(model_id=job.model_id)
        _event(job, kind="cancelled", actor=actor, message="cancelled before it started",
               from_status=JobStatus.QUEUED, to_status=JobStatus.CANCELLED)
    elif TrainingJob.objects.filter(id=job.id, status=JobStatus.RUNNING, cancel_requested=False).update(
            cancel_requested=True):
        _event(job, kind="cancel_requested", actor=actor,
               message="cancel requested; stops within one epoch or chunk of cells")
    elif not TrainingJob.objects.filter(id=job.id, status=JobStatus.RUNNING).exists():
        current = TrainingJob.objects.get(id=job.id).status
        raise Conflict(f"job {job.id} is {current}; only queued or running jobs can be cancelled")
    return TrainingJob.objects.get(id=job.id)


@transaction.atomic
def training_job_mark_cancelled(*, job_id: JobId) -> bool:
    """The worker's side of a cancel: running → cancelled, nothing registered, lock released."""
    job = TrainingJob.objects.get(id=job_id)
    if not _move(job_id, from_statuses=[JobStatus.RUNNING], to_status=JobStatus.CANCELLED,
                 completed_at=timezone.now()):
        return False
    registry_services.model_training_lock_release(model_id=job.model_id)
    where = (f"stopped after epoch {job.epoch}" if job.epoch or job.phase == JobPhase.FIT else
             f"stopped while {JobPhase(job.phase).label if job.phase else 'starting'} "
             f"({job.cells_read} of {job.cells_to_read} cells)")
    _event(job, kind="cancelled", actor=job.worker or "worker", message=where,
           from_status=JobStatus.RUNNING, to_status=JobStatus.CANCELLED)
    return True


def training_recover(*, stale_after_seconds: int | None = None) -> list[str]:
    """Fail jobs whose worker died, remove the bundles they wrote and free locks nobody holds.
    Safe to run anywhere, any time.

    A running job is orphaned when its worker process on this host is gone, or (any host) when
    it has shown no life for `TRAINING_STALE_SECONDS`.
    """
    from training.cleanup import bundles_sweep

    stale_after = stale_after_seconds or settings.TRAINING_STALE_SECONDS
    host, lines, interrupted = socket.gethostname(), [], set()
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING).select_related("model"):
        job_host, _, pid = job.worker.rpartition(":")
        if job_host.split("/")[0] == host and pid.isdigit() and not processes.alive(int(pid)):
            reason = f"its worker process {job.worker} died while it was running"
        elif job.heartbeat_at is None or job.heartbeat_at < cutoff:
            reason = f"no sign of life from its worker {job.worker or '?'} for over {stale_after} s"
        else:
            continue
        if training_job_fail(job_id=job.id, error=f"Training was interrupted: {reason}. Train again.",
                             actor="recovery"):
            lines.append(f"failed job {job.id} of {job.model.name}: {reason}")
            interrupted.add(job.model_id)
    for model_id in interrupted:  # a bundle written just before the crash has no version to serve it
        try:
            lines += bundles_sweep(model_id=model_id)
        except DomainError as error:  # storage down: the leftovers schedule removes them later
            lines.append(f"bundles of model {model_id} not swept: {error.message}")
    # A lock is taken in the same transaction that queues its job; the age guard keeps us from
    # reading "no job" just before such a transaction commits.
    active_models = TrainingJob.objects.filter(status__in=ACTIVE).values("model_id")
    locked_before = timezone.now() - timedelta(minutes=1)
    old_locks = ModelConfig.objects.filter(is_training=True, training_locked_at__lt=locked_before)
    for model in old_locks.exclude(id__in=active_models):
        if registry_services.model_training_lock_release(model_id=model.id):
            lines.append(f"released the stale training lock of {model.name}")
    return lines


def training_jobs_fail_of_workers(*, workers: list[str], error: str) -> list[str]:
    """Fail the running jobs of these worker ids (a stopping cluster killed them); a line per job."""
    lines = []
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING, worker__in=workers).select_related("model"):
        if training_job_fail(job_id=job.id, error=error, actor="worker stop"):
            lines.append(f"failed job {job.id} of {job.model.name}: {error}")
    return lines


def training_requeue_queued() -> list[str]:
    """Start-up only: queue again the `queued` jobs whose task no longer waits in the broker (a
    dead cluster took it). A job whose task still waits (one queued just before this start) is
    left alone: its copy would find the job taken. The job's result hook goes with it."""
    from training.broker import waiting_job_ids

    lines = []
    queued = list(TrainingJob.objects.filter(status=JobStatus.QUEUED).select_related("model"))  # before the broker
    waiting = waiting_job_ids() if queued else set()
    for job in (job for job in queued if str(job.id) not in waiting):
        _enqueue(job)
        lines.append(f"queued job {job.id} of {job.model.name} again")
    return lines
