"""Operator pages for fields: the dashboard and one field's page, with its actions."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from access.feedback import call_service
from access.roles import operator_required
from core.errors import DomainError
from performance import cell_table, degradation, metrics, realised, replay as replay_policy, selectors
from performance.models import ScoreRecord
from performance.selectors import BaselineStep
from performance.services import election
from registry import selectors as registry_selectors


@login_required
def dashboard(request):
    rows, opportunities, error = selectors.dashboard_rows()
    _with_realised(rows)
    return render(request, "performance/dashboard.html",
                  {"rows": rows, "opportunities": opportunities, "source_error": error})


@login_required
def dashboard_table(request):
    rows, _, _ = selectors.dashboard_rows()
    _with_realised(rows)
    return render(request, "performance/_dashboard_table.html", {"rows": rows})


def _with_realised(rows: list[dict]) -> None:
    """Each row's best's latest realised rmse (cached per field: `realised.cached`)."""
    for row in rows:
        best = row["best"]
        row["realised"] = realised.latest_rmse(realised.cached(row["field"]), best.model_id) if best else None


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
        "chart_metric": chart_metric, "realised_chart": realised.chart(realised.cached(field)),
        "events": selectors.timeline(field), "metrics": metrics.METRICS, "jobs": selectors.active_jobs(field),
        "election_margin": settings.ELECTION_MARGIN, "replay_interval": settings.MONITORING_INTERVAL_SECONDS,
        **cells_context(request, field),
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


# Per-cell insight and the retrain-policy replay (issue 16).

CELL_SORTS = [("problems", "problems first"), ("cell", "cell"), ("skill", "skill"), ("samples", "samples")]
CELL_ROWS = 100  # the page shows the first rows of the chosen order; GET /v1/performance/{field}/cells pages all


def cells_context(request, field: str) -> dict:
    sort = request.GET.get("cells_sort", "problems")
    sort = sort if sort in cell_table.SORTS else "problems"
    descending = request.GET.get("cells_desc") == "1"
    found = cell_table.table(field)
    rows = cell_table.sort_rows(found.rows, sort, descending)
    columns = [*found.models, *cell_table.NAIVE]
    shown = [{"row": r, "values": [(r.scores.get(c), c == r.best) for c in columns]} for r in rows[:CELL_ROWS]]
    return {"cells": found, "cell_rows": shown, "cell_count": len(rows),
            "cell_problems": sum(r.problem for r in rows), "cells_sort": sort, "cells_desc": descending,
            "cell_columns": [c.removeprefix("naive:") for c in columns],
            "cell_sorts": CELL_SORTS}


REPLAY_COLORS = ["#991b1b", "#b45309", "#1d4ed8", "#6d28d9", "#047857", "#be185d", "#374151", "#0e7490"]


def replay_chart(result: replay_policy.Replay) -> dict:
    """The best's score at each past check, each factor's threshold, and its triggers as points."""
    scores = [None if v != v else v for v in result.score.tolist()]
    series: list[dict[str, Any]] = [
        {"label": f"{result.model_name} {result.metric}", "values": scores, "color": "#111827"}]
    index = {t: i for i, t in enumerate(result.at.tolist())}
    for color, policy in zip(REPLAY_COLORS * 2, result.policies, strict=False):
        series.append({"label": f"threshold × {policy.factor:g}", "values": [policy.threshold] * len(scores),
                       "color": color, "dash": [4, 4]})
        points: list = [None] * len(scores)
        for t in policy.triggers:
            points[index[t]] = scores[index[t]]
        series.append({"label": f"retrain × {policy.factor:g}", "values": points, "color": color,
                       "points_only": True})
    return {"x": result.at.tolist(), "series": series, "yLabel": result.metric, "metric": result.metric,
            "height": 280}


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.replace(",", " ").split() if part]


@login_required
def field_replay(request, field: str):
    """The replay form's result (reads only, so a GET): a chart and one row per factor."""
    context: dict = {"field": field}
    try:
        factors = _floats(request.GET.get("factors", "1.25 1.5 2"))
        interval = int(request.GET.get("interval", settings.MONITORING_INTERVAL_SECONDS))
        days = float(request.GET.get("days", 7))
        election.check_field(field)
        result = replay_policy.replay(field=field, factors=factors[:8], interval_seconds=interval, days=days)
        rows = [{"policy": p, "hours": p.degraded_seconds / 3600,
                 "first": datetime.fromtimestamp(p.first_trigger_at, tz=UTC) if p.first_trigger_at else None}
                for p in result.policies]
        context |= {"replay": result, "rows": rows, "chart": replay_chart(result), "chart_id": "replay-chart"}
    except ValueError:
        context["error"] = "factors, interval and days must be numbers"
    except DomainError as error:
        context["error"] = error.message
    return render(request, "performance/_replay.html", context)


@login_required
def model_cells(request, model_id):
    """The model page's line: on how many cells of each field it wins (loaded by htmx, since
    the model page belongs to a lower layer)."""
    wins = cell_table.wins_by_model([model_id]).get(model_id, {})
    return render(request, "performance/_model_cells.html", {"wins": wins})
