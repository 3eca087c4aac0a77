"""/v1/inference: forecast the next windows of one cell."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ninja import Field, Query, Router, Schema

from access.auth import READ_AUTH
from access.paging import PageParams
from access.responses import errors
from core.errors import FIELD_NAME_PATTERN
from inference.forecasting import forecast_cell
from inference.readiness import cell_readiness

router = Router(tags=["inference"])


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
