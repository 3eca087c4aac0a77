"""Reads of the registry, each a constant number of queries."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Exists, Max, OuterRef, Prefetch, QuerySet, Subquery

from core.errors import NotFound
from registry.models import NAIVE_ARCHITECTURES, FieldBest, MlflowOutbox, ModelConfig, ModelField, ModelVersion


class _Annotations(TypedDict):
    latest_version: int | None
    mirror_pending: bool


# A model as the selectors return it: with its latest version number and mirror state (for
# mypy; at run time the plain model class).
if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    AnnotatedModel = WithAnnotations[ModelConfig, _Annotations]
else:
    AnnotatedModel = ModelConfig


def model_queryset() -> QuerySet[AnnotatedModel]:
    return (
        ModelConfig.objects.prefetch_related(Prefetch("fields", queryset=ModelField.objects.order_by("position")))
        .annotate(
            latest_version=Max("versions__version"),
            mirror_pending=Exists(MlflowOutbox.objects.filter(model_id=OuterRef("id"))),
        )
        .order_by("created_at", "id")
    )


def model_list(*, output_field: str | None = None) -> QuerySet[AnnotatedModel]:
    models = model_queryset()
    if output_field:
        models = models.filter(
            id__in=ModelField.objects.filter(role=ModelField.Role.OUTPUT, name=output_field).values("model_id")
        )
    return models


def model_get(model_id: uuid.UUID | str) -> AnnotatedModel:
    try:
        return model_queryset().get(id=model_id)
    except (ModelConfig.DoesNotExist, ValueError):
        raise NotFound(f"model {model_id} not found") from None


def fields_with_models() -> set[str]:
    """Output fields that at least one model forecasts."""
    return set(ModelField.objects.filter(role=ModelField.Role.OUTPUT).values_list("name", flat=True).distinct())


def field_best(field: str) -> FieldBest | None:
    return (FieldBest.objects.select_related("model", "version")
            .prefetch_related(Prefetch("model__fields", queryset=ModelField.objects.order_by("position")))
            .filter(field=field).first())


def latest_version(model_id) -> ModelVersion | None:
    return ModelVersion.objects.filter(model_id=model_id).order_by("-version").first()


def models_for_field(field: str) -> list[AnnotatedModel]:
    """Every model that forecasts `field`, with its latest version prefetched as `latest`."""
    models = list(model_list(output_field=field))
    newest = ModelVersion.objects.filter(model_id=OuterRef("model_id")).order_by("-version").values("id")[:1]
    versions = ModelVersion.objects.filter(model__in=models, id=Subquery(newest))
    latest = {v.model_id: v for v in versions}
    for model in models:
        model.latest = latest.get(model.id)
    return models


def field_best_version_id(field: str) -> int | None:
    """The elected version of a field, as one small query (inference's hot path)."""
    return FieldBest.objects.filter(field=field).values_list("version_id", flat=True).first()


def latest_version_id(model_id) -> int | None:
    return ModelVersion.objects.filter(model_id=model_id).order_by("-version").values_list("id", flat=True).first()


def version_unusable(version_id) -> bool:
    """Its bundle turned out missing or unreadable (ModelVersion.unusable_reason)."""
    return ModelVersion.objects.filter(id=version_id).exclude(unusable_reason="").exists()


def naive_siblings(model: ModelConfig) -> list[ModelConfig]:
    """The naive forecasters (persistence, lookback mean) of a model's output fields at its
    window, lookback and forecast: the models an election holds it to."""
    outputs = ModelField.objects.filter(model=OuterRef("pk"), role=ModelField.Role.OUTPUT,
                                        name__in=model.output_fields)
    return list(ModelConfig.objects.filter(
        architecture__in=NAIVE_ARCHITECTURES, window_duration_seconds=model.window_duration_seconds,
        lookback_steps=model.lookback_steps, forecast_steps=model.forecast_steps,
    ).filter(Exists(outputs)).exclude(id=model.id).order_by("created_at"))
