"""The forecast page: pick a field, a cell and optionally a model; see recent actuals and the forecast."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from core.errors import DomainError
from inference.forecasting import forecast_cell
from inference.readiness import cell_readiness
from registry import selectors as registry_selectors
from registry.models import FieldBest
from telemetry.sources import latest_source

HISTORY_WINDOWS = 60


def chart(result, field: str) -> dict:
    """The latest unbroken run of actuals (at most HISTORY_WINDOWS), then the forecast steps and
    the band of their prediction interval."""
    source = latest_source()
    frame = source.latest_windows(cell_index=result.cell_id, window_seconds=result.window_seconds,
                                  count=HISTORY_WINDOWS, fields=[field]).latest_run()
    times = [int(t) for t in frame.start] + [int(s["window_start"].timestamp()) for s in result.steps]
    actual = [float(v) for v in frame.column(field)] + [None] * len(result.steps)
    last = [None] * (len(frame) - 1) + [float(frame.column(field)[-1])]
    forecast = last + [s["values"][field] for s in result.steps]
    series = [{"label": "actual", "values": actual},
              {"label": "forecast", "values": forecast, "color": "#b45309", "dash": [6, 4]}]
    spec = {"x": times, "yLabel": field, "series": series}
    if result.coverage is not None:  # the band opens from the last actual value, as the forecast line does
        label = f"{result.coverage:.0%} interval"
        series += [{"label": f"{label} upper", "values": last + [s["upper"][field] for s in result.steps],
                    "color": "#f59e0b", "width": 1},
                   {"label": f"{label} lower", "values": last + [s["lower"][field] for s in result.steps],
                    "color": "#f59e0b", "width": 1}]
        spec["bands"] = [{"upper": 2, "lower": 3, "fill": "rgba(245, 158, 11, 0.18)"}]
    return spec


def _pickers(chosen: dict) -> dict:
    """The form: fields, the field's models, and its cells (ready ones first, when it has a model
    to run; else the source's plain list)."""
    context = {"fields": sorted(registry_selectors.fields_with_models()),
               "best_fields": set(FieldBest.objects.values_list("field", flat=True))}
    if chosen["field"]:
        context["models"] = registry_selectors.model_list(output_field=chosen["field"])
        try:
            context["readiness"] = cell_readiness(output_field=chosen["field"], model_id=chosen["model"] or None)
            return context
        except DomainError as error:
            context["readiness_note"] = error.message
    try:
        context["cells"] = latest_source().cells()
    except DomainError as error:
        context["cells"], context["error"] = [], error.message
    return context


@login_required
def forecast(request):
    chosen = {"field": request.GET.get("field", ""), "cell": request.GET.get("cell", ""),
              "model": request.GET.get("model", "")}
    partial = request.htmx and request.htmx.target == "forecast-result"  # the result only: no pickers
    context = {"chosen": chosen, "error": "", "result": None, **({} if partial else _pickers(chosen))}
    field, cell = chosen["field"], chosen["cell"]
    if field and cell:
        try:
            result = forecast_cell(output_field=field, cell_id=int(cell), model_id=chosen["model"] or None)
            context["result"] = result.as_dict()
            for step in context["result"]["predictions"]:  # one row per step: value and interval per output
                step["cells"] = [(f, v, (step["lower"] or {}).get(f), (step["upper"] or {}).get(f))
                                 for f, v in step["values"].items()]
            context["chart"] = chart(result, field)
        except DomainError as error:
            context["error"] = error.message
        except ValueError:
            context["error"] = f"{cell!r} is not a cell id"
    template = "inference/_result.html" if partial else "inference/forecast.html"
    return render(request, template, context)
