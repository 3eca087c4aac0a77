"""Operator pages for fields: the dashboard and one field's page, with its actions."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError
from mlops_site.roles import operator_required
from performance import metrics, selectors, services
from performance.models import FieldEvent, FieldMonitor, MonitorEvent, ScoreRecord
from registry import selectors as registry_selectors
from registry.models import FieldBest, ModelField
from telemetry.sources import available_fields, history_source
from training.models import ACTIVE, TrainingJob

SPARK_POINTS = 20


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
    best_pairs = {(b.field, b.model_id) for b in bests.values()}
    for record in ScoreRecord.objects.filter(field__in=list(bests), score__isnull=False).order_by("-measured_at")[:2000]:
        if (record.field, record.model_id) in best_pairs and len(spark[record.field]) < SPARK_POINTS:
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
        rows.append({
            "field": field, "models": len(outputs[field]), "best": best, "monitor": monitor,
            "state": monitor.state if monitor else "unmonitored", "latest": latest,
            "threshold": metrics.threshold(best.metric, best.baseline_score, _factor()) if best else None,
            "spark": [r.score for r in reversed(spark[field])], "jobs": jobs[field],
        })
    opportunities = [f for f in fields if f not in outputs]
    return rows, opportunities, error


def _factor() -> float:
    from django.conf import settings

    return settings.MONITORING_DEGRADATION_FACTOR


@login_required
def dashboard(request):
    rows, opportunities, error = dashboard_rows()
    return render(request, "performance/dashboard.html",
                  {"rows": rows, "opportunities": opportunities, "source_error": error})


@login_required
def dashboard_table(request):
    rows, _, _ = dashboard_rows()
    return render(request, "performance/_dashboard_table.html", {"rows": rows})


def history_chart(field: str, best: FieldBest | None) -> dict:
    """Each model's scores over time, the baseline and threshold, and the elections as points."""
    records = list(ScoreRecord.objects.filter(field=field, score__isnull=False).order_by("measured_at")[:1000])
    times = sorted({r.measured_at.timestamp() for r in records})
    index = {t: i for i, t in enumerate(times)}
    by_model: dict[str, list] = {}
    elections = [None] * len(times)
    for record in records:
        values = by_model.setdefault(record.model_name, [None] * len(times))
        position = index[record.measured_at.timestamp()]
        values[position] = record.score
        if record.elected:
            elections[position] = record.score
    series = [{"label": name, "values": values} for name, values in by_model.items()]
    if best is not None and times:
        threshold = metrics.threshold(best.metric, best.baseline_score, _factor())
        series.append({"label": "baseline", "values": [best.baseline_score] * len(times), "color": "#111827", "dash": [6, 4]})
        series.append({"label": "threshold", "values": [threshold] * len(times), "color": "#991b1b", "dash": [2, 4]})
    series.append({"label": "elected", "values": elections, "color": "#047857", "points_only": True})
    return {"x": times, "series": series, "yLabel": best.metric if best else "score", "height": 300}


def timeline(field: str, limit: int = 60) -> list[dict]:
    events = [{"at": e.at, "kind": e.kind, "actor": e.actor, "text": e.message}
              for e in FieldEvent.objects.filter(field=field).order_by("-at")[:limit]]
    events += [{"at": e.at, "kind": f"monitor: {e.kind}", "actor": e.actor,
                "text": e.reason if e.kind != "transition" else f"{e.from_state} → {e.to_state}: {e.reason}"}
               for e in MonitorEvent.objects.filter(field=field).order_by("-at")[:limit]]
    return sorted(events, key=lambda e: e["at"], reverse=True)[:limit]


@login_required
def field_page(request, field: str):
    best = registry_selectors.field_best(field)
    monitor = selectors.monitor(field)
    models = registry_selectors.models_for_field(field)
    return render(request, "performance/field.html", {
        "field": field, "best": best, "monitor": monitor, "models": models,
        "threshold": metrics.threshold(best.metric, best.baseline_score, _factor()) if best else None,
        "ranking": selectors.last_evaluation(field), "chart": history_chart(field, best),
        "events": timeline(field), "metrics": metrics.METRICS, "jobs": selectors.active_jobs(field),
        "source": history_source().name,
    })


def _act(request, field: str, action, success: str):
    try:
        action()
        messages.success(request, success)
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("field", field=field)


@require_POST
@operator_required
def field_evaluate(request, field: str):
    metric = request.POST.get("metric", "rmse")
    return _act(request, field, lambda: services.field_evaluate(field=field, metric=metric, user=request.user),
                f"{field} evaluated by {metric}")


@require_POST
@operator_required
def field_monitor(request, field: str):
    return _act(request, field, lambda: services.field_monitor_check(field=field, user=request.user),
                f"the best model of {field} was re-scored")


@require_POST
@operator_required
def field_set_best(request, field: str, model_id):
    return _act(request, field, lambda: services.field_best_override(field=field, model_id=model_id, user=request.user),
                "the best model was set")
