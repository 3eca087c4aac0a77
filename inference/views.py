"""The forecast page: pick a field, a cell and optionally a model; see recent actuals and the forecast."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from core.errors import DomainError
from inference.forecasting import forecast_cell
from inference.readiness import cell_readiness
from registry import selectors as registry_selectors
from registry.models import FieldBest
from telemetry import latest_cache
from telemetry.sources import latest_source

HISTORY_WINDOWS = 60
PICKER_MAX_OPTIONS = 200  # beyond this many cells the picker is a search box with suggestions
SUGGESTIONS = 20


def chart(result, field: str) -> dict:
    """The latest unbroken run of actuals (at most HISTORY_WINDOWS), then the forecast steps and
    the band of their prediction interval."""
    source = latest_source()
    frame = latest_cache.latest_windows(source, cell_index=result.cell_id, window_seconds=result.window_seconds,
                                        count=HISTORY_WINDOWS, fields=[field]).latest_run()
    times = [int(t) for t in frame.start] + [int(s["window_start"].timestamp()) for s in result.steps]
    actual = [float(v) for v in frame.column(field)] + [None] * len(result.steps)
    last = [None] * (len(frame) - 1) + [float(frame.column(field)[-1])]
    forecast = last + [s["values"][field] for s in result.steps]
    series: list[dict[str, Any]] = [{"label": "actual", "values": actual},
              {"label": "forecast", "values": forecast, "color": "#b45309", "dash": [6, 4]}]
    spec: dict[str, Any] = {"x": times, "yLabel": field, "series": series}
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
    context: dict[str, Any] = {"fields": sorted(registry_selectors.fields_with_models()),
               "best_fields": set(FieldBest.objects.values_list("field", flat=True))}
    if chosen["field"]:
        context["models"] = registry_selectors.model_list(output_field=chosen["field"])
        try:
            readiness = cell_readiness(output_field=chosen["field"], model_id=chosen["model"] or None)
            context["readiness"] = readiness
            if readiness.total_cells > PICKER_MAX_OPTIONS:
                context["cell_search"] = True
                context["suggestions"] = _suggestions(chosen, readiness)
            return context
        except DomainError as error:
            context["readiness_note"] = error.message
    try:
        cells = latest_source().cells()
    except DomainError as error:
        cells, context["error"] = [], error.message
    if len(cells) > PICKER_MAX_OPTIONS:
        context["cell_search"] = True
        context["suggestions"] = _suggestions(chosen, None, cells)
    else:
        context["cells"] = cells
    return context


def _suggestions(chosen: dict, readiness, cells: list[int] | None = None) -> list[dict]:
    """At most SUGGESTIONS cells whose id contains what was typed: ready ones first."""
    typed = "".join(ch for ch in chosen["cell"] if ch.isdigit() or ch == "-")
    if readiness is not None:
        _, rows = readiness.page(search=typed, limit=SUGGESTIONS)
        return [{"cell_id": r.cell_id, "label": "ready" if r.ready else (
            f"{r.complete_windows} of {r.needed} windows" if r.checked else "not checked")} for r in rows]
    matching = [c for c in cells or [] if typed in str(c)][:SUGGESTIONS]
    return [{"cell_id": c, "label": ""} for c in matching]


@login_required
def forecast_cells(request):
    """The cell picker's suggestions (htmx): `<option>`s for the cells matching what was typed."""
    chosen = {"field": request.GET.get("field", ""), "cell": request.GET.get("cell", ""),
              "model": request.GET.get("model", "")}
    suggestions: list[dict] = []
    try:
        if chosen["field"]:
            try:
                readiness = cell_readiness(output_field=chosen["field"], model_id=chosen["model"] or None)
                suggestions = _suggestions(chosen, readiness)
            except DomainError:
                suggestions = _suggestions(chosen, None, latest_source().cells())
        else:
            suggestions = _suggestions(chosen, None, latest_source().cells())
    except DomainError:
        suggestions = []
    return render(request, "inference/_cell_options.html", {"suggestions": suggestions})


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


NETWORK_PAGE_SIZE = 50
NETWORK_SORTS = {"worst": "worst predicted first", "best": "best predicted first", "cell": "cell id",
                 "newest": "newest forecast first"}


@login_required
def network(request):
    """Every cell's latest stored forecast of a field: paged, searchable by cell id, sortable,
    worst predicted values first. One count and one page query on the store's latest-per-cell
    table, whatever the network size."""
    from inference.forecast_store import Latest, get_store, higher_is_worse
    from inference.models import ForecastRun

    page_number = request.GET.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and int(page_number) > 0 else 1
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "worst")
    sort = sort if sort in NETWORK_SORTS else "worst"
    context = {"q": query, "sort": sort, "sorts": NETWORK_SORTS, "note": "", "rows": [], "count": 0}
    try:
        store = get_store()
        fields = sorted(set(store.latest_fields()) | set(FieldBest.objects.values_list("field", flat=True)))
        field = request.GET.get("field") or (fields[0] if fields else "")
        if query and not query.isdigit():
            context["note"] = f"{query!r} is not a cell id (search by the start of a cell id)"
        elif field:
            context["count"], context["rows"] = store.latest(Latest(
                field=field, search=query, sort=sort, limit=NETWORK_PAGE_SIZE,
                offset=(page_number - 1) * NETWORK_PAGE_SIZE))
    except DomainError as error:
        fields, field, context["note"] = [], request.GET.get("field", ""), error.message
    pages = max(1, -(-context["count"] // NETWORK_PAGE_SIZE))
    context.update(fields=fields, field=field, page_number=page_number, pages=pages,
                   previous_page=page_number - 1 if page_number > 1 else None,
                   next_page=page_number + 1 if page_number < pages else None,
                   worst_word="highest" if higher_is_worse(field) else "lowest",
                   steps=range(1, 1 + max((len(r["values"]) for r in context["rows"]), default=0)),
                   run=ForecastRun.objects.filter(field=field).order_by("-origin").first() if field else None)
    template = "inference/_network_table.html" if request.htmx else "inference/network.html"
    return render(request, template, context)
