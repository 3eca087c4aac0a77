"""Operator pages for fields: the dashboard and one field's page, with its actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.roles import operator_required
from core.errors import DomainError
from performance import metrics, selectors, services
from registry import selectors as registry_selectors
from registry.models import FieldBest


def _factor() -> float:
    from django.conf import settings

    return settings.MONITORING_DEGRADATION_FACTOR


@login_required
def dashboard(request):
    rows, opportunities, error = selectors.dashboard_rows(_factor())
    return render(request, "performance/dashboard.html",
                  {"rows": rows, "opportunities": opportunities, "source_error": error})


@login_required
def dashboard_table(request):
    rows, _, _ = selectors.dashboard_rows(_factor())
    return render(request, "performance/_dashboard_table.html", {"rows": rows})


def history_chart(field: str, best: FieldBest | None) -> dict:
    """Each model's scores over time, the baseline and threshold, and the elections as points."""
    # The newest 1000 scores, oldest first (the monitoring loop adds ~290 a day per field).
    newest = selectors.history(field).filter(score__isnull=False).order_by("-measured_at", "-id")[:1000]
    records = list(newest)[::-1]
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
        series.append(
            {"label": "baseline", "values": [best.baseline_score] * len(times), "color": "#111827", "dash": [6, 4]}
        )
        series.append({"label": "threshold", "values": [threshold] * len(times), "color": "#991b1b", "dash": [2, 4]})
    series.append({"label": "elected", "values": elections, "color": "#047857", "points_only": True})
    return {"x": times, "series": series, "yLabel": best.metric if best else "score", "height": 300}


@login_required
def field_page(request, field: str):
    best = registry_selectors.field_best(field)
    monitor = selectors.monitor(field)
    models = registry_selectors.models_for_field(field)
    return render(request, "performance/field.html", {
        "field": field, "best": best, "monitor": monitor, "models": models,
        "threshold": metrics.threshold(best.metric, best.baseline_score, _factor()) if best else None,
        "ranking": selectors.last_evaluation(field), "chart": history_chart(field, best),
        "events": selectors.timeline(field), "metrics": metrics.METRICS, "jobs": selectors.active_jobs(field),
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
