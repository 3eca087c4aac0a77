"""Reads of scores, evaluations and monitor states."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.errors import DomainError
from performance import degradation
from performance.models import FieldEvent, FieldMonitor, MonitorEvent, MonitorState, ScoreRecord, Trigger
from registry.models import FieldBest, ModelConfig, ModelField
from telemetry.sources import available_fields
from training.models import ACTIVE, TrainingJob

EVALUATION_TRIGGERS = (Trigger.EVALUATE, Trigger.AUTO_EVALUATE)
SPARK_POINTS = 20


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


def due_monitor_ids(now=None, only: list[str] | None = None) -> list[int]:
    """Ids of due, unclaimed monitors: one indexed query, whatever the number of fields."""
    now = now or timezone.now()
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = FieldMonitor.objects.filter(next_check_at__lte=now).filter(unclaimed)
    if only:
        due = due.filter(field__in=only)
    return list(due.values_list("id", flat=True))


def fields_waiting_for(job_id) -> list[str]:
    return [m.field for m in FieldMonitor.objects.filter(state=MonitorState.RETRAINING)
            if str(job_id) in {str(j) for j in m.waiting_job_ids}]


def election_metric(field: str) -> str:
    """The metric the field is elected by: its best's, else its last election's (the best may
    have been deleted with its model), else rmse."""
    best = FieldBest.objects.filter(field=field).values_list("metric", flat=True).first()
    last = (ScoreRecord.objects.filter(field=field, elected=True).order_by("-measured_at", "-id")
            .values_list("metric", flat=True).first())
    return best or last or "rmse"


def active_jobs(field: str) -> list[TrainingJob]:
    models = ModelConfig.objects.filter(fields__role="output", fields__name=field).values("id")
    return list(TrainingJob.objects.filter(model_id__in=models, status__in=ACTIVE).order_by("created_at"))


def last_job_to_end(field: str):
    """Id of the job that ended last among the newest job of each model of the field; None
    while any of them is queued or running (or no model has a job)."""
    models = ModelConfig.objects.filter(fields__role="output", fields__name=field).values("id")
    newest = (TrainingJob.objects.filter(model_id=OuterRef("model_id")).order_by("-created_at", "-id")
              .values("id")[:1])
    jobs = list(TrainingJob.objects.filter(model_id__in=models, id=Subquery(newest)))
    if not jobs or any(job.is_active for job in jobs):
        return None
    return max(jobs, key=lambda job: (job.completed_at or job.created_at, str(job.id))).id


def dashboard_rows() -> tuple[list[dict], list[str], str]:
    """One row per field that has models; other KPI fields are returned as opportunities."""
    error = ""
    try:
        fields = available_fields()
    except DomainError as problem:
        fields, error = [], problem.message
    outputs = defaultdict(list)
    for field, model_id in ModelField.objects.filter(role="output").values_list("name", "model_id"):
        outputs[field].append(model_id)
    bests = {b.field: b for b in FieldBest.objects.select_related("model", "version")}
    monitors = {m.field: m for m in FieldMonitor.objects.all()}
    spark = defaultdict(list)
    of_bests = Q(pk__in=[])
    for elected in bests.values():
        of_bests |= Q(field=elected.field, model_id=elected.model_id)
    # The newest SPARK_POINTS scores of each best, in one query (the table is polled every 10 s).
    recent = (ScoreRecord.objects.filter(of_bests, score__isnull=False)
              .annotate(newest=Window(RowNumber(), partition_by=[F("field")], order_by=[F("measured_at").desc(),
                                                                                        F("id").desc()]))
              .filter(newest__lte=SPARK_POINTS).order_by("field", "-measured_at", "-id")
              .only("field", "model_id", "metric", "score", "skill_vs_persistence", "measured_at"))
    for record in recent:
        spark[record.field].append(record)
    jobs = defaultdict(list)
    model_fields = defaultdict(list)
    for field, model_ids in outputs.items():
        for model_id in model_ids:
            model_fields[model_id].append(field)
    for job in TrainingJob.objects.filter(status__in=ACTIVE).select_related("model"):
        for field in model_fields[job.model_id]:
            jobs[field].append(job)
    rows = []
    for field in sorted(outputs):
        best, monitor = bests.get(field), monitors.get(field)
        latest = spark[field][0] if spark[field] else None
        rule = degradation.of(best) if best else None
        rows.append({
            "field": field, "models": len(outputs[field]), "best": best, "monitor": monitor,
            "state": monitor.state if monitor else "unmonitored", "latest": latest,
            "threshold": rule.threshold if rule else None,
            "status": rule.status(latest.score) if best and rule and latest and latest.metric == best.metric else None,
            "spark": [r.score for r in reversed(spark[field])], "jobs": jobs[field],
        })
    opportunities = [f for f in fields if f not in outputs]
    return rows, opportunities, error


CHART_POINTS = 1000  # the monitoring loop adds ~290 scores a day per field


def score_history(field: str, limit: int = CHART_POINTS) -> list[ScoreRecord]:
    """The field's newest scored records, oldest first."""
    newest = history(field).filter(score__isnull=False).order_by("-measured_at", "-id")[:limit]
    return list(newest)[::-1]


@dataclass(frozen=True)
class BaselineStep:
    at: datetime
    metric: str
    baseline: float
    why: str  # evaluated, best_set or rebaseline


def baseline_history(field: str) -> list[BaselineStep]:
    """Every baseline the field had, oldest first, from the election history: elections by an
    evaluation or a set-best (their events record metric and baseline) and the monitor's
    rebaselines (same metric, the score that became the baseline)."""
    Row = tuple[datetime, int, FieldEvent | MonitorEvent]
    elections: list[Row] = [
        (e.at, e.id, e) for e in FieldEvent.objects.filter(field=field, kind__in=["evaluated", "best_set"])
        if e.details.get("baseline") is not None]
    rebaselines: list[Row] = [(e.at, e.id, e) for e in MonitorEvent.objects.filter(
        field=field, kind=MonitorEvent.Kind.REBASELINE, score__isnull=False)]
    steps: list[BaselineStep] = []
    for at, _, event in sorted(elections + rebaselines, key=lambda item: item[:2]):
        if isinstance(event, FieldEvent):
            steps.append(BaselineStep(at, event.details["metric"], event.details["baseline"], event.kind))
        elif steps and event.score is not None:
            steps.append(BaselineStep(at, steps[-1].metric, event.score, "rebaseline"))
    return steps


def timeline(field: str, limit: int = 60) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"at": e.at, "kind": e.kind, "actor": e.actor, "text": e.message}
              for e in FieldEvent.objects.filter(field=field).order_by("-at")[:limit]]
    events += [{"at": e.at, "kind": f"monitor: {e.kind}", "actor": e.actor,
                "text": e.reason if e.kind != "transition" else f"{e.from_state} → {e.to_state}: {e.reason}"}
               for e in MonitorEvent.objects.filter(field=field).order_by("-at")[:limit]]
    return sorted(events, key=lambda e: e["at"], reverse=True)[:limit]
