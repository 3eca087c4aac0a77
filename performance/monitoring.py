"""The monitoring loop: one persisted state machine per field, advanced by ticks.

    MONITORING --degraded--> RETRAINING --all jobs ended--> EVALUATING --> MONITORING

A tick (a django-q2 schedule, every minute) claims each field whose `next_check_at` is due with
a conditional update, so two workers never handle the same field, then:

1. MONITORING: re-score the best (`auto_monitor`). No score (no data) → an event, no move.
   A zero or missing baseline cannot be multiplied into a threshold: the first real score
   becomes the baseline (a `rebaseline` event) instead of triggering a retrain storm.
   Degraded (`score > baseline × factor`; for r2 `1 − r2 > (1 − baseline) × factor`) → queue a
   job for every model that outputs the field (a model already training is waited for, not
   trained twice) → RETRAINING. Each job's completion hook ticks the field at once.
2. RETRAINING: when every awaited job has ended (a job deleted with its model counts as ended),
   → EVALUATING; if none completed → back to MONITORING with the old best and an event.
3. EVALUATING: evaluate every model of the field with the monitor's metric and elect; the new
   baseline comes with the election → MONITORING. This runs in the same tick that entered
   EVALUATING; the state persists only if the evaluation fails (then it is retried with backoff).

A failure in one field never stops the others; it is retried with exponential backoff. Manual
evaluate or set-best at any time only changes the best and baseline; the loop keeps its state,
and its own evaluation after retraining has the last word.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from performance import metrics, services
from performance.models import FieldMonitor, MonitorEvent, MonitorState, Trigger
from registry import selectors as registry_selectors
from training import services as training_services
from training.models import ACTIVE, JobStatus, TrainingJob

log = logging.getLogger(__name__)
CLAIM_SECONDS = 15 * 60  # a tick that dies mid-field frees the field after this
MAX_BACKOFF_SECONDS = 6 * 3600
RETRAIN_HOOK = "performance.tasks.after_retraining_job"


@dataclass
class Outcome:
    field: str
    action: str


def _worker() -> str:
    return f"{socket.gethostname()}:monitor"


def _event(monitor: FieldMonitor, kind: str, reason: str, *, to_state: str = "", **fields) -> None:
    MonitorEvent.objects.create(at=timezone.now(), field=monitor.field, kind=kind, from_state=monitor.state,
                                to_state=to_state or (monitor.state if kind == MonitorEvent.Kind.TRANSITION else ""),
                                reason=reason, actor=_worker(), **fields)


def _move(monitor: FieldMonitor, to_state: str, reason: str, *, next_check_in: float, **fields) -> None:
    _event(monitor, MonitorEvent.Kind.TRANSITION, reason, to_state=to_state,
           job_ids=fields.get("waiting_job_ids", []))
    FieldMonitor.objects.filter(id=monitor.id).update(
        state=to_state, next_check_at=timezone.now() + timedelta(seconds=next_check_in), **fields)


def due_fields(now=None, only: list[str] | None = None) -> list[int]:
    """Ids of due, unclaimed monitors: one indexed query, whatever the number of fields."""
    now = now or timezone.now()
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = FieldMonitor.objects.filter(next_check_at__lte=now).filter(unclaimed)
    if only:
        due = due.filter(field__in=only)
    return list(due.values_list("id", flat=True))


def claim(monitor_id: int, now=None) -> bool:
    now = now or timezone.now()
    return bool(
        FieldMonitor.objects.filter(id=monitor_id, next_check_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )


def tick(*, only: list[str] | None = None) -> list[Outcome]:
    """Advance every due field once; returns what was done per field."""
    outcomes = []
    for monitor_id in due_fields(only=only):
        if not claim(monitor_id):
            continue  # another worker took it
        monitor = FieldMonitor.objects.get(id=monitor_id)
        try:
            action = advance(monitor)
            FieldMonitor.objects.filter(id=monitor_id).update(consecutive_failures=0, last_error="")
        except Exception as error:  # one field's failure never stops the others
            log.exception("monitoring %s failed", monitor.field)
            failures = monitor.consecutive_failures + 1
            delay = min(settings.MONITORING_INTERVAL_SECONDS * 2 ** failures, MAX_BACKOFF_SECONDS)
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            _event(monitor, MonitorEvent.Kind.ERROR, f"{message} (retry in {delay} s)")
            FieldMonitor.objects.filter(id=monitor_id).update(
                consecutive_failures=failures, last_error=message[:2000],
                next_check_at=timezone.now() + timedelta(seconds=delay))
            action = f"error: {message}"
        finally:
            FieldMonitor.objects.filter(id=monitor_id).update(claimed_until=None)
        outcomes.append(Outcome(monitor.field, action))
    return outcomes


def advance(monitor: FieldMonitor) -> str:
    if monitor.state == MonitorState.EVALUATING:
        return _evaluating(monitor)
    action = _retraining(monitor) if monitor.state == MonitorState.RETRAINING else _monitoring(monitor)
    monitor.refresh_from_db()
    if monitor.state == MonitorState.EVALUATING:  # nothing left to wait for: elect in the same tick
        action = f"{action}; {_evaluating(monitor)}"
    return action


def _monitoring(monitor: FieldMonitor) -> str:
    interval = settings.MONITORING_INTERVAL_SECONDS
    if registry_selectors.field_best(monitor.field) is None:  # the best model was deleted
        _move(monitor, MonitorState.EVALUATING, "the best model is gone; electing a new one", next_check_in=0)
        return "best gone: evaluating"
    check = services.best_rescore(field=monitor.field, trigger=Trigger.AUTO_MONITOR, actor=_worker())
    score, best = check.record.score, check.best
    reschedule = {"next_check_at": timezone.now() + timedelta(seconds=interval)}
    if score is None and registry_selectors.version_unusable(best.version_id):  # its bundle is gone
        _move(monitor, MonitorState.EVALUATING, f"the best cannot be used ({check.record.note}); electing a new one",
              next_check_in=0)
        return "best unusable: evaluating"
    if score is None:
        _event(monitor, MonitorEvent.Kind.NO_DATA, f"no score for {best.model.name}: {check.record.note}",
               baseline=best.baseline_score)
        FieldMonitor.objects.filter(id=monitor.id).update(**reschedule)
        return "no data"
    if metrics.error_form(best.metric, best.baseline_score) <= 0:
        # A perfect (zero-error) baseline makes every error "degraded": adopt this score instead.
        services.field_baseline_reset(field=monitor.field, baseline=score, reason="the baseline had zero error")
        _event(monitor, MonitorEvent.Kind.REBASELINE, "the baseline had zero error; this score is the new baseline",
               score=score, baseline=best.baseline_score)
        FieldMonitor.objects.filter(id=monitor.id).update(**reschedule)
        return "rebaselined"
    _event(monitor, MonitorEvent.Kind.CHECK, "degraded" if check.degraded else "within the threshold",
           score=score, baseline=best.baseline_score, threshold=check.threshold)
    if not check.degraded:
        FieldMonitor.objects.filter(id=monitor.id).update(**reschedule)
        return "ok"
    jobs = _retrain_all(monitor.field)
    _move(monitor, MonitorState.RETRAINING,
          f"{best.metric} {score:.4g} is past the threshold {check.threshold:.4g} (baseline {best.baseline_score:.4g} "
          f"× {settings.MONITORING_DEGRADATION_FACTOR}); retraining {len(jobs)} models",
          next_check_in=interval, waiting_job_ids=[str(j) for j in jobs])
    return f"degraded: retraining {len(jobs)}"


def _retrain_all(field: str) -> list:
    """A job for every model of the field; a model already training is waited for instead."""
    job_ids = []
    for model in registry_selectors.model_list(output_field=field):
        try:
            job = training_services.training_job_create(model=model, reason=f"monitor: {field} degraded",
                                                        hook=RETRAIN_HOOK)
        except Conflict:
            job = TrainingJob.objects.filter(model_id=model.id, status__in=ACTIVE).first()
            if job is None:
                continue  # its lock is held without a job: recovery frees it; skip this round
        job_ids.append(job.id)
    return job_ids


def _retraining(monitor: FieldMonitor) -> str:
    interval = settings.MONITORING_INTERVAL_SECONDS
    waiting = [str(j) for j in monitor.waiting_job_ids]
    statuses = dict(TrainingJob.objects.filter(id__in=waiting).values_list("id", "status"))
    statuses = {str(k): v for k, v in statuses.items()}
    if any(status in ACTIVE for status in statuses.values()):
        FieldMonitor.objects.filter(id=monitor.id).update(
            next_check_at=timezone.now() + timedelta(seconds=interval))
        return "waiting for jobs"
    completed = [j for j in waiting if statuses.get(j) == JobStatus.COMPLETED]
    summary = ", ".join(f"{j}: {statuses.get(j, 'deleted')}" for j in waiting)
    if not completed:
        _move(monitor, MonitorState.MONITORING, f"retraining failed, none of {len(waiting)} jobs completed "
              f"({summary}); keeping the current best", next_check_in=interval, waiting_job_ids=[])
        return "retraining failed"
    _move(monitor, MonitorState.EVALUATING, f"{len(completed)} of {len(waiting)} jobs completed ({summary})",
          next_check_in=0, waiting_job_ids=[])
    return "retrained: evaluating"


def _evaluating(monitor: FieldMonitor) -> str:
    evaluation = services.field_evaluate(field=monitor.field, metric=monitor.metric, trigger=Trigger.AUTO_EVALUATE)
    monitor.refresh_from_db()
    if evaluation.best is None:
        _move(monitor, MonitorState.MONITORING, "no model could be scored; nothing elected",
              next_check_in=settings.MONITORING_INTERVAL_SECONDS)
        return "nothing elected"
    best = evaluation.best
    _move(monitor, MonitorState.MONITORING,
          f"elected {best.model.name} v{best.version.version}, baseline {best.metric} {best.baseline_score:.4g}",
          next_check_in=settings.MONITORING_INTERVAL_SECONDS)
    return f"elected {best.model.name}"


def recover() -> list[str]:
    """Start-up: fields stuck in RETRAINING whose jobs all ended (or are gone) move on now."""
    lines = []
    for monitor in FieldMonitor.objects.filter(state=MonitorState.RETRAINING):
        active = TrainingJob.objects.filter(id__in=monitor.waiting_job_ids, status__in=ACTIVE).exists()
        if not active and FieldMonitor.objects.filter(id=monitor.id).update(next_check_at=timezone.now(),
                                                                             claimed_until=None):
            lines.append(f"monitor of {monitor.field}: its retraining jobs have ended; due now")
    return lines


def fields_make_due(fields: list[str]) -> int:
    """Check these fields at the next tick, whatever their next check time."""
    return FieldMonitor.objects.filter(field__in=fields).update(next_check_at=timezone.now())


def fields_waiting_for(job_id) -> list[str]:
    return [m.field for m in FieldMonitor.objects.filter(state=MonitorState.RETRAINING)
            if str(job_id) in {str(j) for j in m.waiting_job_ids}]
