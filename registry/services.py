"""Every write to the registry. Each call is atomic, leaves an event row, and queues the
MLflow mirror operation in the same transaction (the flush runs after commit, on a worker)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Invalid
from core.events import actor_name, user_row
from core.types import Actor, ModelId, Payload
from registry import bundle_store, selectors
from registry.bounds import CONFIG, TRAINING
from registry.models import (
    MAX_INPUT_FIELDS,
    MAX_OUTPUT_FIELDS,
    NAIVE_ARCHITECTURES,
    NAME_PATTERN,
    Architecture,
    FieldBest,
    MlflowOutbox,
    ModelConfig,
    ModelEvent,
    ModelField,
    ModelVersion,
    TargetMode,
)
from telemetry.sources import available_fields

log = logging.getLogger(__name__)


def model_event_record(*, model: ModelConfig, kind: str, actor: str, message: str, **details: Any) -> ModelEvent:
    return ModelEvent.objects.create(
        model_id=model.id, model_name=model.name, kind=kind, actor=actor, message=message, details=details
    )


def mirror_enqueue(*, operation: str, model_id: ModelId, payload: Payload | None = None) -> None:
    """Queue an MLflow mirror write; it is flushed by a worker after the transaction commits."""
    MlflowOutbox.objects.create(operation=operation, model_id=model_id, payload=payload or {})
    # One flush per transaction is enough: it applies every row written before it runs.
    pending_callbacks = transaction.get_connection().run_on_commit
    if not any(callback[1] is _schedule_flush for callback in pending_callbacks):
        transaction.on_commit(_schedule_flush)


def _schedule_flush() -> None:
    from django_q.tasks import async_task

    async_task("registry.tasks.mirror_flush", task_name="mlflow-mirror-flush", group="mlflow-mirror")


def _check_fields(input_fields: Sequence[str], output_fields: Sequence[str]) -> None:
    problems = []
    for label, fields, most in (("input_fields", input_fields, MAX_INPUT_FIELDS),
                                ("output_fields", output_fields, MAX_OUTPUT_FIELDS)):
        if not fields:
            problems.append(f"{label} must name at least one field")
        elif len(fields) > most:
            problems.append(f"{label} may name at most {most} fields")
        elif len(set(fields)) != len(fields):
            problems.append(f"{label} names a field twice")
    if problems:
        raise Invalid("; ".join(problems))
    available = available_fields()  # DependencyDown (503) when the source cannot be reached
    invalid = sorted({f for f in [*input_fields, *output_fields] if f not in available})
    if invalid:
        raise Invalid(
            f"unknown fields: {', '.join(invalid)}. Available fields: {', '.join(available)}",
            invalid_fields=invalid, available_fields=available,
        )


def _check_config(name: str, architecture: str, numbers: dict[str, int], training: dict) -> None:
    problems = []
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        problems.append("name must be 1-128 characters of letters, digits, '_' or '-'")
    if architecture not in Architecture.values:
        problems.append(f"architecture must be one of {', '.join(Architecture.values)}")
    for key, value in numbers.items():
        if not CONFIG[key].accepts(value):
            problems.append(CONFIG[key].problem)
    for key, value in training.items():
        if key == "target_mode":
            if value not in TargetMode.values:
                problems.append(f"target_mode must be one of {', '.join(TargetMode.values)}")
            continue
        if key not in TRAINING:
            problems.append(f"unknown training parameter {key}")
            continue
        if not CONFIG[key].accepts(value):
            problems.append(CONFIG[key].problem)
    if problems:
        raise Invalid("; ".join(problems))


def model_config_validate(
    *, name: str, architecture: str, input_fields: Sequence[str], output_fields: Sequence[str],
    training: dict | None = None, **numbers: int,
) -> None:
    """Every check `model_config_create` makes, without writing (the admin form calls it)."""
    _check_config(name, architecture, numbers, training or {})
    if ModelConfig.objects.filter(name=name).exists():
        raise Conflict(f"a model named {name!r} already exists")
    _check_fields(input_fields, output_fields)
    if architecture == Architecture.LOOKBACK_MEAN and not set(output_fields) <= set(input_fields):
        raise Invalid("a lookback_mean model averages its outputs over the lookback: every output field "
                      f"must also be an input (missing: {', '.join(sorted(set(output_fields) - set(input_fields)))})")


@transaction.atomic
def model_config_create(
    *,
    name: str,
    architecture: str,
    input_fields: Sequence[str],
    output_fields: Sequence[str],
    window_duration_seconds: int,
    lookback_steps: int,
    forecast_steps: int,
    hidden_size: int = 32,
    user: Actor = None,
    **training: Any,
) -> ModelConfig:
    """Create a model config. `training` may set target_mode and any of `bounds.TRAINING`."""
    training = {k: v for k, v in training.items() if v is not None}
    numbers = {
        "window_duration_seconds": window_duration_seconds, "lookback_steps": lookback_steps,
        "forecast_steps": forecast_steps, "hidden_size": hidden_size,
    }
    model_config_validate(
        name=name, architecture=architecture, input_fields=input_fields, output_fields=output_fields,
        training=training, **numbers,
    )
    model = ModelConfig(
        name=name, architecture=architecture, created_by=user_row(user), **numbers, **training
    )
    try:
        model.full_clean(validate_unique=False)
    except ValidationError as error:
        raise Invalid("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from error
    try:
        with transaction.atomic():
            model.save(force_insert=True)
    except IntegrityError as error:  # a concurrent create with the same name won the race
        raise Conflict(f"a model named {name!r} already exists") from error
    ModelField.objects.bulk_create(
        [ModelField(model=model, role=ModelField.Role.INPUT, position=i, name=f) for i, f in enumerate(input_fields)]
        + [
            ModelField(model=model, role=ModelField.Role.OUTPUT, position=i, name=f)
            for i, f in enumerate(output_fields)
        ]
    )
    model_event_record(
        model=model, kind="created", actor=actor_name(user), message=f"model {name} created",
        architecture=architecture, input_fields=list(input_fields), output_fields=list(output_fields), **numbers,
        target_mode=model.target_mode, **model.training_params,
    )
    mirror_enqueue(
        operation=MlflowOutbox.Operation.CREATE_MODEL, model_id=model.id,
        payload={"tags": {"name": name, "architecture": architecture}, "description": f"cellwise model {name}"},
    )
    if settings.NAIVE_MODELS_AUTO and not model.is_naive:
        naive_forecasters_ensure(model=model, user=user)
    return model


def naive_model_name(*, field: str, architecture: str, window: int, lookback: int, forecast: int) -> str:
    return f"{field}-{architecture.replace('_', '-')}-{window}s-{lookback}x{forecast}"


def naive_forecasters_ensure(*, model: ModelConfig, user: Actor = None) -> list[ModelConfig]:
    """Persistence and the lookback mean for each output field of `model`, at its window,
    lookback and forecast: the ones missing are created (reading only that field), the
    existing ones kept. Returns those created. One that cannot be created (its name taken by
    another model) is logged and left out: the learned model stands without it."""
    have = {(m.architecture, f) for m in selectors.naive_siblings(model) for f in m.output_fields}
    created = []
    for field in model.output_fields:
        for architecture in NAIVE_ARCHITECTURES:
            if (architecture, field) in have:
                continue
            name = naive_model_name(field=field, architecture=architecture, window=model.window_duration_seconds,
                                    lookback=model.lookback_steps, forecast=model.forecast_steps)
            try:
                created.append(model_config_create(
                    name=name, architecture=architecture, input_fields=[field], output_fields=[field],
                    window_duration_seconds=model.window_duration_seconds, lookback_steps=model.lookback_steps,
                    forecast_steps=model.forecast_steps, user=user))
            except (Conflict, Invalid) as error:  # the learned model stands either way
                log.warning("naive forecaster %s not created: %s", name, error.message)
    return created


@transaction.atomic
def model_config_delete(*, model: ModelConfig, user: Actor = None) -> None:
    locked = ModelConfig.objects.select_for_update().filter(id=model.id).first()
    if locked is None:
        return
    if locked.is_training:
        raise Conflict(
            f"model {locked.name!r} has a queued or running training job; cancel it first "
            f"(GET /v1/training/jobs?model_id={locked.id})",
            model_id=str(locked.id),
        )
    bundles = list(locked.versions.values_list("bundle_path", flat=True))
    model_event_record(model=locked, kind="deleted", actor=actor_name(user), message=f"model {locked.name} deleted",
                       bundles=bundles)
    locked.delete()
    mirror_enqueue(operation=MlflowOutbox.Operation.DELETE_MODEL, model_id=model.id)
    # Its bundles go after commit, on a worker; if the storage is down then, no version refers
    # to them any more and the bundle sweep (training.cleanup, a schedule) removes them later.
    transaction.on_commit(lambda: _schedule_bundle_removal(model.id))


def _schedule_bundle_removal(model_id: ModelId) -> None:
    from django_q.tasks import async_task

    async_task("registry.tasks.bundles_delete", str(model_id), task_name=f"bundles-delete-{model_id}",
               group="bundles")


def model_bundles_delete(*, model_id: ModelId) -> int:
    """Remove every bundle of a model that no longer exists (its folder in the models storage);
    returns how many went. DependencyDown when the storage cannot be reached."""
    if ModelConfig.objects.filter(id=model_id).exists():
        raise Conflict(f"model {model_id} still exists; its bundles are removed only with it")
    keys = bundle_store.keys(bundle_store.model_prefix(model_id))
    for key in keys:
        bundle_store.delete(key)
    return len(keys)


def model_training_lock_take(*, model_id: ModelId) -> bool:
    """Take the model's training lock with a conditional update; False when someone holds it."""
    return bool(ModelConfig.objects.filter(id=model_id, is_training=False).update(
        is_training=True, training_locked_at=timezone.now()
    ))


def model_training_lock_release(*, model_id: ModelId) -> bool:
    """Release the lock (idempotent); True when it was held."""
    return bool(ModelConfig.objects.filter(id=model_id, is_training=True).update(
        is_training=False, training_locked_at=None
    ))


@transaction.atomic
def model_version_create(*, model_id: ModelId, bundle_path: str, **fields: Any) -> ModelVersion:
    """Record a trained version, numbered after the model's latest one (under a row lock)."""
    model = ModelConfig.objects.select_for_update().get(id=model_id)
    latest = model.versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = ModelVersion.objects.create(model=model, version=latest + 1, bundle_path=bundle_path, **fields)
    model_event_record(model=model, kind="version_created", actor="worker",
                       message=f"version {version.version} of {model.name} recorded",
                       version=version.version, mlflow_version=version.mlflow_version)
    return version


@transaction.atomic
def model_version_mark_unusable(*, version_id: int, reason: str) -> bool:
    """The version's bundle is missing or unreadable: it is never served or scored again (train
    the model anew). Guarded: only the first caller writes the event; True for that caller."""
    marked = ModelVersion.objects.filter(id=version_id, unusable_reason="").update(
        unusable_reason=reason[:500], unusable_at=timezone.now())
    if marked:
        version = ModelVersion.objects.select_related("model").get(id=version_id)
        model_event_record(model=version.model, kind="version_unusable", actor="system",
                           message=f"version {version.version} of {version.model.name} is unusable: {reason}"[:1000],
                           version=version.version, bundle_path=version.bundle_path)
    return bool(marked)


@transaction.atomic
def model_version_mlflow_record(*, version_id: int, run_id: str, experiment_id: str, mlflow_version: str) -> bool:
    """The MLflow mirror caught up with a version: its run and registered version. False when
    the version is gone (its model was deleted meanwhile)."""
    version = ModelVersion.objects.select_related("model").filter(id=version_id).first()
    if version is None:
        return False
    ModelVersion.objects.filter(id=version_id).update(mlflow_run_id=run_id, mlflow_experiment_id=experiment_id,
                                                      mlflow_version=mlflow_version)
    model_event_record(model=version.model, kind="version_mirrored", actor="mlflow-mirror",
                       message=f"version {version.version} of {version.model.name} is MLflow version "
                               f"{mlflow_version or '–'} (run {run_id})",
                       version=version.version, mlflow_run_id=run_id, mlflow_version=mlflow_version)
    return True


def field_best_set(*, field: str, model: ModelConfig, version: ModelVersion, metric: str, baseline_score: float,
                   elected_by: str) -> FieldBest | None:
    """Make `model` the field's best (one per field, by a unique constraint); returns the previous best.

    Mirrors the seed's tags: `best_for:` and `baseline_score:` move from the old best to the new.
    """
    with transaction.atomic():
        previous = FieldBest.objects.select_for_update().select_related("model").filter(field=field).first()
        FieldBest.objects.update_or_create(field=field, defaults=dict(
            model=model, version=version, metric=metric, baseline_score=baseline_score,
            elected_at=timezone.now(), elected_by=elected_by,
        ))
        if previous is not None and previous.model_id != model.id:
            mirror_enqueue(operation=MlflowOutbox.Operation.DELETE_MODEL_TAGS, model_id=previous.model_id,
                           payload={"keys": [f"best_for:{field}", f"baseline_score:{field}",
                                                   f"best_is_naive:{field}"]})
        mirror_enqueue(operation=MlflowOutbox.Operation.SET_MODEL_TAGS, model_id=model.id, payload={"tags": {
            f"best_for:{field}": "true", f"baseline_score:{field}": repr(float(baseline_score)),
            # A naive best says so: the field's learned models do not beat it yet.
            f"best_is_naive:{field}": "true" if model.architecture in NAIVE_ARCHITECTURES else "false",
        }})
    return previous
