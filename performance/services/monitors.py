"""The monitor of each field: every write of `FieldMonitor` and `MonitorEvent`.

    MONITORING --degraded--> RETRAINING --all jobs ended--> EVALUATING --> MONITORING

Each step of the loop is one service here: a guarded transition (a conditional update on the
state the caller read, `Conflict` if it moved meanwhile) that writes its event in the same
transaction and returns the row as written, so the loop never reads back what it just wrote.
The judging rule is `performance.degradation`; the metric and baseline are the elected best's.

Schedule: a field's checks sit on a grid, `next_check_at` advancing from the slot that was due
(not from the end of the check, which takes seconds and would make a minute tick miss every
other slot). After downtime the next slot is the first one in the future: no burst of checks.
"""

from __future__ import annotations

import copy
import math
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from performance import degradation, notifications
from performance.models import FieldMonitor, MonitorEvent, MonitorState
from registry import selectors as registry_selectors, services as registry_services
from registry.models import FieldBest
from training import services as training_services
from training.models import ACTIVE, JobStatus, TrainingJob

CLAIM_SECONDS = 15 * 60  # a tick that dies mid-field frees the field after this
MAX_BACKOFF_SECONDS = 6 * 3600
RETRAIN_HOOK = "performance.tasks.after_retraining_job"


@dataclass
class Step:
    monitor: FieldMonitor  # the row as this step wrote it
    action: str


def worker() -> str:
    return f"{socket.gethostname()}:monitor"


def next_slot(due: datetime, now: datetime, interval: float) -> datetime:
    """The first slot `due + k × interval` (k ≥ 1) after `now`."""
    missed = math.floor((now - due).total_seconds() / interval)
    return due + timedelta(seconds=interval * max(1, missed + 1))


def _event(monitor: FieldMonitor, kind: str, reason: str, *, to_state: str = "", **fields) -> None:
    MonitorEvent.objects.create(at=timezone.now(), field=monitor.field, kind=kind, from_state=monitor.state,
                                to_state=to_state, reason=reason, actor=worker(), **fields)


def _as_written(monitor: FieldMonitor, columns: dict) -> FieldMonitor:
    written = copy.copy(monitor)
    for name, value in columns.items():
        setattr(written, name, value)
    return written


def _write(monitor: FieldMonitor, **columns) -> FieldMonitor:
    """The guarded update: only while the row is in the state `monitor` was read in."""
    if not FieldMonitor.objects.filter(id=monitor.id, state=monitor.state).update(**columns):
        raise Conflict(f"the monitor of {monitor.field} is no longer {monitor.state}")
    return _as_written(monitor, columns)


def _move(monitor: FieldMonitor, to_state: str, reason: str, **columns) -> FieldMonitor:
    _event(monitor, MonitorEvent.Kind.TRANSITION, reason, to_state=to_state,
           job_ids=columns.get("waiting_job_ids", []))
    return _write(monitor, state=to_state, **columns)


def _turn_ends(monitor: FieldMonitor) -> dict:
    """The columns of a step that ends the field's turn: its next slot, failures forgotten."""
    return {"next_check_at": next_slot(monitor.next_check_at, timezone.now(), settings.MONITORING_INTERVAL_SECONDS),
            "consecutive_failures": 0, "last_error": ""}


# The election's side of the row: it starts the watch and keeps the last score and the naive flag
# (each of those is recorded by the election's own ScoreRecord and FieldEvent rows).

def field_monitor_watch(*, field: str) -> FieldMonitor:
    """A field is monitored from its first election on; the first check is one interval later."""
    monitor, _ = FieldMonitor.objects.get_or_create(field=field, defaults={
        "next_check_at": timezone.now() + timedelta(seconds=settings.MONITORING_INTERVAL_SECONDS)})
    return monitor


def field_monitor_scored(*, field: str, score: float, at: datetime) -> None:
    FieldMonitor.objects.filter(field=field).update(last_check_at=at, last_score=score)


def field_monitor_flag_below_naive(*, field: str, below: bool) -> bool:
    """True when the flag changed (the election writes the event saying why)."""
    return bool(FieldMonitor.objects.filter(field=field).exclude(below_naive=below).update(below_naive=below))


# The loop's claim: a lease, not a state, so it writes no event.

def field_monitor_claim(*, monitor_id: int) -> FieldMonitor | None:
    """Take a due, unclaimed field for this tick; None when another worker was faster."""
    now = timezone.now()
    claimed = (FieldMonitor.objects.filter(id=monitor_id, next_check_at__lte=now)
               .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
               .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
    return FieldMonitor.objects.get(id=monitor_id) if claimed else None


def field_monitor_release(*, monitor_id: int) -> None:
    FieldMonitor.objects.filter(id=monitor_id).update(claimed_until=None)


# The steps of the loop.

@transaction.atomic
def field_monitor_checked(*, monitor: FieldMonitor, best: FieldBest, score: float | None, note: str = "",
                          basis: str = "") -> Step:
    """MONITORING: act on a fresh score of the best (recorded by the election's re-score, or its
    realised score); `basis` (which score, or why not realised) goes into the check's event."""
    rule = degradation.of(best)
    status = rule.status(score)
    if status == degradation.Status.NO_SCORE or score is None:
        _event(monitor, MonitorEvent.Kind.NO_DATA, f"no score for {best.model.name}: {note}",
               baseline=best.baseline_score)
        return Step(_write(monitor, **_turn_ends(monitor)), "no data")
    if status == degradation.Status.REBASELINE:
        registry_services.field_best_set(field=best.field, model=best.model, version=best.version,
                                         metric=best.metric, baseline_score=score, elected_by=best.elected_by)
        _event(monitor, MonitorEvent.Kind.REBASELINE, "the baseline had zero error; this score is the new baseline",
               score=score, baseline=best.baseline_score)
        return Step(_write(monitor, **_turn_ends(monitor)), "rebaselined")
    _event(monitor, MonitorEvent.Kind.CHECK, f"{status.label} ({basis})" if basis else status.label, score=score,
           baseline=best.baseline_score, threshold=rule.threshold)
    if status == degradation.Status.OK:
        return Step(_write(monitor, **_turn_ends(monitor)), "ok")
    jobs = _retrain_all(best.field)
    moved = _move(monitor, MonitorState.RETRAINING,
                  f"{best.metric} {score:.4g} is past the threshold {rule.threshold:.4g} (baseline "
                  f"{best.baseline_score:.4g} × {rule.factor}); retraining {len(jobs)} models",
                  waiting_job_ids=[str(j) for j in jobs], **_turn_ends(monitor))
    notifications.field_degraded(best=best, score=score, rule=rule, job_ids=[str(j) for j in jobs])
    return Step(moved, f"degraded: retraining {len(jobs)}")


def _retrain_all(field: str) -> list:
    """A job for every model of the field; a model already training is waited for instead."""
    job_ids = []
    for model in registry_selectors.model_list(output_field=field):
        job: TrainingJob | None
        try:
            job = training_services.training_job_create(model=model, reason=f"monitor: {field} degraded",
                                                        hook=RETRAIN_HOOK)
        except Conflict:
            job = TrainingJob.objects.filter(model_id=model.id, status__in=ACTIVE).first()
            if job is None:
                continue  # its lock is held without a job: recovery frees it; skip this round
        job_ids.append(job.id)
    return job_ids


@transaction.atomic
def field_monitor_best_gone(*, monitor: FieldMonitor, reason: str = "the best model is gone",
                            action: str = "best gone") -> Step:
    """MONITORING → EVALUATING when the best model was deleted or cannot be used; still due, so
    it is elected now."""
    return Step(_move(monitor, MonitorState.EVALUATING, f"{reason}; electing a new one"), f"{action}: evaluating")


@transaction.atomic
def field_monitor_follow_jobs(*, monitor: FieldMonitor) -> Step:
    """RETRAINING: wait until every awaited job has ended (a deleted job counts as ended), then
    EVALUATING (still due, so it is elected in the same tick), or MONITORING if none completed."""
    waiting = [str(j) for j in monitor.waiting_job_ids]
    statuses = {str(k): v for k, v in TrainingJob.objects.filter(id__in=waiting).values_list("id", "status")}
    if any(status in ACTIVE for status in statuses.values()):
        return Step(_write(monitor, **_turn_ends(monitor)), "waiting for jobs")
    completed = [j for j in waiting if statuses.get(j) == JobStatus.COMPLETED]
    summary = ", ".join(f"{j}: {statuses.get(j, 'deleted')}" for j in waiting)
    if not completed:
        moved = _move(monitor, MonitorState.MONITORING, f"retraining failed, none of {len(waiting)} jobs completed "
                      f"({summary}); keeping the current best", waiting_job_ids=[], **_turn_ends(monitor))
        notifications.retraining_ended(field=monitor.field, job_ids=waiting, statuses=statuses, to_state=moved.state)
        return Step(moved, "retraining failed")
    moved = _move(monitor, MonitorState.EVALUATING, f"{len(completed)} of {len(waiting)} jobs completed ({summary})",
                  waiting_job_ids=[])
    notifications.retraining_ended(field=monitor.field, job_ids=waiting, statuses=statuses, to_state=moved.state)
    return Step(moved, "retrained: evaluating")


@transaction.atomic
def field_monitor_reelected(*, monitor: FieldMonitor, elected: FieldBest | None, scored: int) -> Step:
    """EVALUATING → MONITORING once the loop's evaluation ran; the new baseline came with it."""
    if elected is None:
        moved = _move(monitor, MonitorState.MONITORING, f"{scored} models evaluated, none could be scored; "
                      "nothing elected", **_turn_ends(monitor))
        return Step(moved, "nothing elected")
    moved = _move(monitor, MonitorState.MONITORING, f"elected {elected.model.name} v{elected.version.version}, "
                  f"baseline {elected.metric} {elected.baseline_score:.4g}", **_turn_ends(monitor))
    return Step(moved, f"elected {elected.model.name}")


@transaction.atomic
def field_monitor_fail(*, monitor: FieldMonitor, error: str) -> Step:
    """A step failed: keep the state, retry with exponential backoff (interval × 2ⁿ, at most 6 h).
    Guarded by id only: it must record the failure whatever happened to the row meanwhile."""
    failures = monitor.consecutive_failures + 1
    delay = min(settings.MONITORING_INTERVAL_SECONDS * 2 ** failures, MAX_BACKOFF_SECONDS)
    _event(monitor, MonitorEvent.Kind.ERROR, f"{error} (retry in {delay} s)")
    columns = {"consecutive_failures": failures, "last_error": error[:2000],
               "next_check_at": timezone.now() + timedelta(seconds=delay)}
    FieldMonitor.objects.filter(id=monitor.id).update(**columns)
    return Step(_as_written(monitor, columns), f"error: {error}")


def field_monitor_make_due(*, fields: list[str]) -> int:
    """Check these fields at the next tick, whatever their next slot (their grid restarts there)."""
    return FieldMonitor.objects.filter(field__in=fields).update(next_check_at=timezone.now())


def field_monitor_recover() -> list[str]:
    """Start-up: fields stuck in RETRAINING whose jobs all ended (or are gone) move on now."""
    lines = []
    for monitor in FieldMonitor.objects.filter(state=MonitorState.RETRAINING):
        active = TrainingJob.objects.filter(id__in=monitor.waiting_job_ids, status__in=ACTIVE).exists()
        if not active and FieldMonitor.objects.filter(id=monitor.id, state=MonitorState.RETRAINING).update(
                next_check_at=timezone.now(), claimed_until=None):
            lines.append(f"monitor of {monitor.field}: its retraining jobs have ended; due now")
    return lines
