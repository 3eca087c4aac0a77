"""Operator pages for fields: the dashboard and one field's page, with its actions."""

from __future__ import annotations

import bisect

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from access.feedback import call_service
from access.roles import operator_required
from performance import degradation, metrics, selectors
from performance.models import ScoreRecord
from performance.selectors import BaselineStep
from performance.services import election
from registry import selectors as registry_selectors


@login_required
def dashboard(request):
    rows, opportunities, error = selectors.dashboard_rows()
    return render(request, "performance/dashboard.html",
                  {"rows": rows, "opportunities": opportunities, "source_error": error})


@login_required
def dashboard_table(request):
    rows, _, _ = selectors.dashboard_rows()
    return render(request, "performance/_dashboard_table.html", {"rows": rows})


def _value(record: ScoreRecord, metric: str) -> float | None:
    """A record's score in any metric: every evaluation computes them all on the same samples."""
    if record.metric == metric:
        return record.score
    return (record.details.get("model") or {}).get(metric)


def _steps_over(steps: list[BaselineStep], times: list[float], metric: str) -> tuple[list, list]:
    """The baseline and threshold in force at each time (None where the field was elected by
    another metric, or before its first election)."""
    starts = [s.at.timestamp() for s in steps]
    baseline, threshold = [], []
    for t in times:
        position = bisect.bisect_right(starts, t)
        step = steps[position - 1] if position else None
        rule = degradation.rule(metric, step.baseline) if step and step.metric == metric else None
        baseline.append(rule.baseline if rule else None)
        threshold.append(rule.threshold if rule else None)
    return baseline, threshold


def history_chart(field: str, metric: str) -> dict:
    """One series per model in `metric`; the baseline and threshold as steps from the election
    history (each from its election on; a gap where the field was elected by another metric);
    the elections as points."""
    scored = [(r, v) for r in selectors.score_history(field) if (v := _value(r, metric)) is not None]
    if not scored:
        return {"x": [], "series": [], "yLabel": metric, "metric": metric}
    steps = selectors.baseline_history(field)
    first = scored[0][0].measured_at.timestamp()
    moments = {r.measured_at.timestamp() for r, _ in scored}
    if steps:  # each step starts at its election; the last one lasts until now
        moments |= {s.at.timestamp() for s in steps if s.at.timestamp() >= first} | {timezone.now().timestamp()}
    times = sorted(moments)
    index = {t: i for i, t in enumerate(times)}
    names: dict = {}
    by_model: dict = {}
    elections: list[float | None] = [None] * len(times)
    for record, value in scored:
        position = index[record.measured_at.timestamp()]
        by_model.setdefault(record.model_id, [None] * len(times))[position] = value
        names[record.model_id] = record.model_name  # the newest name
        if record.elected:
            elections[position] = value
    baseline, threshold = _steps_over(steps, times, metric)
    series = [{"label": names[model_id], "values": values} for model_id, values in by_model.items()]
    series.append({"label": "baseline", "values": baseline, "color": "#111827", "dash": [6, 4], "stepped": True})
    series.append({"label": "threshold", "values": threshold, "color": "#991b1b", "dash": [2, 4], "stepped": True})
    series.append({"label": "elected", "values": elections, "color": "#047857", "points_only": True})
    return {"x": times, "series": series, "yLabel": metric, "metric": metric, "height": 300}


@login_required
def field_page(request, field: str):
    best = registry_selectors.field_best(field)
    monitor = selectors.monitor(field)
    models = registry_selectors.models_for_field(field)
    chosen = request.GET.get("metric")
    chart_metric = chosen if chosen in metrics.METRICS else selectors.election_metric(field)
    return render(request, "performance/field.html", {
        "field": field, "best": best, "monitor": monitor, "models": models,
        "threshold": degradation.of(best).threshold if best else None,
        "ranking": selectors.last_evaluation(field), "chart": history_chart(field, chart_metric),
        "chart_metric": chart_metric,
        "events": selectors.timeline(field), "metrics": metrics.METRICS, "jobs": selectors.active_jobs(field),
    })


def _act(request, field: str, action, success: str):
    call_service(request, action, success=success)
    return redirect("field", field=field)


@require_POST
@operator_required
def field_evaluate(request, field: str):
    metric = request.POST.get("metric", "rmse")
    return _act(request, field, lambda: election.field_evaluate(field=field, metric=metric, user=request.user),
                f"{field} evaluated by {metric}")


@require_POST
@operator_required
def field_monitor(request, field: str):
    return _act(request, field, lambda: election.field_best_check(field=field, user=request.user),
                f"the best model of {field} was re-scored")


@require_POST
@operator_required
def field_set_best(request, field: str, model_id):
    return _act(request, field, lambda: election.field_best_override(field=field, model_id=model_id, user=request.user),
                "the best model was set")
