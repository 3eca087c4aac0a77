"""/v1/inference: forecast the next windows of one cell."""

from __future__ import annotations

import uuid
from datetime import datetime

from ninja import Field, Router, Schema

from core.errors import FIELD_NAME_PATTERN

from inference.forecasting import forecast_cell
from mlops_site.auth import READ_AUTH

router = Router(tags=["inference"])


class InferenceIn(Schema):
    output_field: str = Field(pattern=FIELD_NAME_PATTERN)
    cell_id: int = Field(ge=-(2**63), le=2**63 - 1)
    model_id: uuid.UUID | None = None


class Prediction(Schema):
    step: int
    window_start: datetime
    window_end: datetime
    values: dict[str, float]


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
    predictions: list[Prediction]


@router.post("", response=InferenceOut, auth=READ_AUTH)
def infer(request, body: InferenceIn):
    """Without model_id: the field's elected best (409 until the field is evaluated).
    422 when the cell lacks enough recent complete windows; 503 when the data source is down."""
    return forecast_cell(output_field=body.output_field, cell_id=body.cell_id, model_id=body.model_id).as_dict()
