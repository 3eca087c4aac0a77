"""/v1/fields and /v1/models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status

from access.auth import READ_AUTH, WRITE_AUTH, caller
from access.paging import Page, PageParams, page_of
from access.responses import errors
from core.errors import FIELD_NAME_PATTERN
from registry import details, selectors, services
from registry.bounds import CONFIG
from registry.models import MAX_INPUT_FIELDS, MAX_OUTPUT_FIELDS, NAME_PATTERN, Architecture
from registry.selectors import AnnotatedModel
from telemetry.sources import available_fields, history_source

router = Router(tags=["registry"])
# Literals built from the choices at run time (the schema lists them); mypy sees plain strings.
if TYPE_CHECKING:
    ArchitectureName = str
else:
    ArchitectureName = Literal[tuple(Architecture.values)]


class FieldOut(Schema):
    name: str
    has_models: bool | None = Field(None, description="only with include_model_status=true")


class FieldsOut(Schema):
    source: str
    fields: list[FieldOut]


@router.get("/fields", response={200: FieldsOut, **errors(401, 422, 502, 503)}, auth=READ_AUTH, exclude_none=True)
def list_fields(request, include_model_status: bool = False):
    """KPI fields the data source offers (its columns minus metadata)."""
    source = history_source()
    modelled = selectors.fields_with_models() if include_model_status else set()
    return {
        "source": source.name,
        "fields": [
            {"name": f, "has_models": (f in modelled) if include_model_status else None}
            for f in available_fields(source)
        ],
    }


class ModelIn(Schema):
    name: str = Field(pattern=NAME_PATTERN, description="unique; 1-128 of letters, digits, '_' and '-'")
    architecture: ArchitectureName = Field(
        description="; ".join(f"{value}: {label}" for value, label in Architecture.choices)
    )
    input_fields: list[Annotated[str, Field(pattern=FIELD_NAME_PATTERN)]] = Field(
        min_length=1, max_length=MAX_INPUT_FIELDS
    )
    output_fields: list[Annotated[str, Field(pattern=FIELD_NAME_PATTERN)]] = Field(
        min_length=1, max_length=MAX_OUTPUT_FIELDS
    )
    window_duration_seconds: int = CONFIG["window_duration_seconds"].schema_field()
    lookback_steps: int = CONFIG["lookback_steps"].schema_field()
    forecast_steps: int = CONFIG["forecast_steps"].schema_field()
    hidden_size: int = CONFIG["hidden_size"].schema_field()
    target_mode: Literal["residual", "level"] = Field(
        "residual", description="predict each output's change from its last value (residual) or its level"
    )
    epochs: int | None = CONFIG["epochs"].schema_field()
    batch_size: int | None = CONFIG["batch_size"].schema_field()
    learning_rate: float | None = CONFIG["learning_rate"].schema_field()
    patience: int | None = CONFIG["patience"].schema_field()
    validation_fraction: float | None = CONFIG["validation_fraction"].schema_field()
    seed: int | None = CONFIG["seed"].schema_field()


class TrainingParams(Schema):
    target_mode: str
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    validation_fraction: float
    seed: int


class ModelOut(Schema):
    id: uuid.UUID
    name: str
    architecture: str
    input_fields: list[str]
    output_fields: list[str]
    window_duration_seconds: int
    lookback_steps: int
    forecast_steps: int
    hidden_size: int
    training: TrainingParams
    is_training: bool
    latest_version: int | None
    mlflow_mirror: Literal["synced", "pending"]
    created_at: datetime
    updated_at: datetime
    details: dict[str, Any] | None = Field(None, description="only with include_details=true")


def model_out(model: AnnotatedModel, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": model.id, "name": model.name, "architecture": model.architecture,
        "input_fields": model.input_fields, "output_fields": model.output_fields,
        "window_duration_seconds": model.window_duration_seconds, "lookback_steps": model.lookback_steps,
        "forecast_steps": model.forecast_steps, "hidden_size": model.hidden_size,
        "training": {"target_mode": model.target_mode, **model.training_params},
        "is_training": model.is_training, "latest_version": model.latest_version,
        "mlflow_mirror": "pending" if model.mirror_pending else "synced",
        "created_at": model.created_at, "updated_at": model.updated_at, "details": extra,
    }


@router.get("/models", response={200: Page[ModelOut], **errors(401, 422, 503)}, auth=READ_AUTH)
def list_models(request, paging: Query[PageParams], include_details: bool = False,
                output_field: str | None = Query(None, pattern=FIELD_NAME_PATTERN)):
    """Models, oldest first. `include_details` adds training status, scores and best-for fields."""
    page = page_of(selectors.model_list(output_field=output_field), paging)
    extra = details.collect(page["items"]) if include_details else {}
    page["items"] = [model_out(m, extra.get(m.id) if include_details else None) for m in page["items"]]
    return page


@router.post("/models", response={201: ModelOut, **errors(400, 401, 403, 409, 422, 502, 503)}, auth=WRITE_AUTH)
def create_model(request, body: ModelIn):
    """Validates the fields against the data source (422 names the unknown ones)."""
    model = services.model_config_create(**body.dict(), user=caller(request))
    return Status(201, model_out(selectors.model_get(model.id)))


@router.get("/models/{model_id}", response={200: ModelOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def get_model(request, model_id: uuid.UUID, include_details: bool = False):
    model = selectors.model_get(model_id)
    return model_out(model, details.collect([model]).get(model.id) if include_details else None)


@router.delete("/models/{model_id}", response={204: None, **errors(401, 403, 404, 409, 422, 503)}, auth=WRITE_AUTH)
def delete_model(request, model_id: uuid.UUID):
    """Removes the model from the database now and from MLflow as soon as it answers."""
    services.model_config_delete(model=selectors.model_get(model_id), user=caller(request))
    return HttpResponse(status=204)
