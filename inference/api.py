"""/v1/inference: forecast the next windows of one cell."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from ninja import Field, Query, Router, Schema

from access.auth import READ_AUTH
from access.paging import PageParams
from access.responses import errors
from core.errors import FIELD_NAME_PATTERN
from inference.forecasting import forecast_cell
from inference.readiness import cell_readiness

router = Router(tags=["inference"])
forecasts_router = Router(tags=["forecasts"])
BATCH_MAX_CELLS = 10_000


class InferenceIn(Schema):
    output_field: str = Field(pattern=FIELD_NAME_PATTERN)
    cell_id: int = Field(ge=-(2**63), le=2**63 - 1)
    model_id: uuid.UUID | None = None
    coverage: float | None = Field(None, gt=0, lt=1, description="of the prediction intervals; default "
                                   "INTERVAL_COVERAGE (0.9)")


class Prediction(Schema):
    step: int
    window_start: datetime
    window_end: datetime
    values: dict[str, float]
    lower: dict[str, float] | None = Field(description="the interval's lower bound per output (null: the version "
                                           "was trained before intervals; train it again)")
    upper: dict[str, float] | None


class InferenceOut(Schema):
    model_id: uuid.UUID
    model_name: str
    version: int
    architecture: str
    cell_id: int
    output_field: str
    window_duration_seconds: int
    source: str
    input_start: datetime
    input_end: datetime
    filled_windows: int = Field(description="missing windows of the lookback filled by interpolation "
                                            "(at most MAX_FILLED_WINDOWS)")
    naive: bool = Field(description="the forecaster is a naive one (persistence or the lookback mean)")
    coverage: float | None = Field(description="nominal coverage of every step's lower..upper")
    predictions: list[Prediction]


@router.post("", response={200: InferenceOut, **errors(400, 401, 403, 404, 409, 422, 502, 503)}, auth=READ_AUTH)
def infer(request, body: InferenceIn):
    """Without model_id: the field's elected best (409 until the field is evaluated). Each step
    carries lower/upper bounds at `coverage` (split conformal, calibrated at training).
    422 when the cell lacks enough recent complete windows; 503 when the data source is down."""
    return forecast_cell(output_field=body.output_field, cell_id=body.cell_id, model_id=body.model_id,
                         coverage=body.coverage).as_dict()


class CellReadinessOut(Schema):
    cell_id: int
    complete_windows: int | None  # null when not checked
    checked: bool
    ready: bool


class ReadinessOut(Schema):
    model_id: uuid.UUID
    model_name: str
    version: int
    output_field: str
    lookback_steps: int
    total_cells: int
    scanned_cells: int
    ready_count: int
    valid_until: datetime
    count: int
    limit: int
    offset: int
    ready_cells: list[int]
    cells: list[CellReadinessOut]
    unchecked_cells: list[int]


class ReadinessQuery(PageParams):
    output_field: str = Field(..., pattern=FIELD_NAME_PATTERN)
    model_id: uuid.UUID | None = None
    q: str = Field("", max_length=20, pattern=r"^[0-9-]*$", description="part of a cell id")
    ready: bool | None = Field(None, description="only ready (true) or only not ready (false) cells")


@router.get("/cells", response={200: ReadinessOut, **errors(401, 404, 409, 422, 502, 503)}, auth=READ_AUTH)
def ready_cells(request, query: Query[ReadinessQuery]):
    """Which cells can be forecast now with the model that would run (the field's best, or
    model_id): each cell's complete contiguous latest windows against the lookback it needs,
    over every cell of the network (ClickHouse, bundled data; the Data Storage API stops after
    READINESS_BUDGET_SECONDS, the rest not checked), computed once per window (`valid_until`).
    Ready cells first, then not ready, then not checked; paged (`count` cells match `q` and
    `ready`); `ready_cells` and `unchecked_cells` are those of this page."""
    readiness = cell_readiness(output_field=query.output_field, model_id=query.model_id)
    count, rows = readiness.page(search=query.q, ready=query.ready, limit=query.limit, offset=query.offset)
    return {"model_id": readiness.model_id, "model_name": readiness.model_name, "version": readiness.version,
            "output_field": query.output_field, "lookback_steps": readiness.needed,
            "total_cells": readiness.total_cells, "scanned_cells": readiness.scanned,
            "ready_count": readiness.ready_count, "valid_until": datetime.fromtimestamp(readiness.window_end, UTC),
            "count": count, "limit": query.limit, "offset": query.offset,
            "ready_cells": [c.cell_id for c in rows if c.ready],
            "cells": [{"cell_id": c.cell_id, "complete_windows": c.complete_windows, "checked": c.checked,
                       "ready": c.ready} for c in rows],
            "unchecked_cells": [c.cell_id for c in rows if not c.checked]}


class BatchIn(Schema):
    output_field: str = Field(pattern=FIELD_NAME_PATTERN)
    cells: list[Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]] | None = Field(
        None, min_length=1, max_length=BATCH_MAX_CELLS, description="cell ids (default: every cell of the source)")
    model_id: uuid.UUID | None = None
    limit: int = Field(1000, ge=1, le=BATCH_MAX_CELLS, description="cells per page")
    offset: int = Field(0, ge=0, le=10**9, description="cells to skip (in ascending cell order)")


class BatchStep(Schema):
    step: int
    window_start: datetime
    window_end: datetime
    value: float


class BatchForecastOut(Schema):
    cell_id: int
    input_start: datetime
    input_end: datetime
    predictions: list[BatchStep]


class BatchSkippedOut(Schema):
    cell_id: int
    reason: str
    found: int | None = None


class BatchOut(Schema):
    model_id: uuid.UUID
    model_name: str
    version: int
    output_field: str
    window_duration_seconds: int
    source: str
    count: int
    limit: int
    offset: int
    items: list[BatchForecastOut]
    skipped: list[BatchSkippedOut]


@router.post("/batch", response={200: BatchOut, **errors(400, 401, 403, 404, 409, 422, 502, 503)}, auth=READ_AUTH)
def infer_batch(request, body: BatchIn):
    """Forecast many cells at once (one read and one forward pass per chunk of cells), with the
    field's best or model_id. Paged over the cells, ascending: `count` is how many cells were
    asked for (or the source has), `items` the forecasts of this page, `skipped` the cells of this
    page that could not be forecast and why (too few complete recent windows, unknown cell)."""
    from inference.batch import forecast_batch
    from telemetry.batch import as_cells
    from telemetry.sources import latest_source

    cells = as_cells(body.cells if body.cells is not None else latest_source().cells())
    page = cells[body.offset:body.offset + body.limit]
    result = forecast_batch(output_field=body.output_field, cells=page, model_id=body.model_id)
    ws, entry = result.window_seconds, result.entry
    items = [{"cell_id": f.cell_id, "input_start": _at(f.input_start), "input_end": _at(f.origin),
              "predictions": [{"step": k + 1, "window_start": _at(f.origin + k * ws),
                               "window_end": _at(f.origin + (k + 1) * ws), "value": float(v)}
                              for k, v in enumerate(f.values)]} for f in result.forecasts]
    return {"model_id": entry.model_id, "model_name": entry.model_name, "version": entry.version,
            "output_field": body.output_field, "window_duration_seconds": ws, "source": result.source,
            "count": len(cells), "limit": body.limit, "offset": body.offset, "items": items,
            "skipped": [{"cell_id": s.cell_id, "reason": s.reason, "found": s.found} for s in result.skipped]}


def _at(timestamp: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(int(timestamp), UTC)


class StoredForecastOut(Schema):
    field: str
    cell: int
    model_id: uuid.UUID
    model_name: str
    version: int
    origin: datetime
    step: int
    target: datetime
    window_seconds: int
    value: float
    lower: float | None = None
    upper: float | None = None
    created_at: datetime


class StoredPage(Schema):
    items: list[StoredForecastOut]
    count: int
    limit: int
    offset: int
    store: str


@forecasts_router.get("", response={200: StoredPage, **errors(401, 422, 503)}, auth=READ_AUTH)
def stored_forecasts(request, field: str = Query(..., pattern=FIELD_NAME_PATTERN),
                     cell: int | None = Query(None, ge=-(2**63), le=2**63 - 1),
                     since: datetime | None = None,
                     limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)):
    """Forecasts stored by the schedule (every cell of each evaluated field, once per window),
    read without running inference: ordered by cell, target window, origin. `since`: forecasts
    for windows starting at or after it (ISO time, UTC when it has no offset). `origin` is the
    start of the first forecast window (the end of the input), `target` the forecast window's start."""
    from core.instants import as_utc
    from inference.forecast_store import Query as StoreQuery, get_store

    store = get_store()
    count, rows = store.query(StoreQuery(field=field, cell=cell, since=as_utc(since, "since"), limit=limit,
                                         offset=offset))
    return {"items": rows, "count": count, "limit": limit, "offset": offset, "store": store.name}
