"""The MLflow registry mirror: apply `MlflowOutbox` rows in order, idempotently.

Every operation may run twice (two flushers, or a crash after MLflow applied it and before the
row was deleted): creating what exists and deleting what is gone count as success. The first
real failure stops the flush, so later operations on the same model never overtake it.

Operations whose payload only an app above the registry can apply (a training run needs the
weights and the network code) are registered by that app at start-up (`register_applier`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from core.locks import only_one
from registry import mlflow_gateway
from registry.models import MlflowOutbox

log = logging.getLogger(__name__)
Op = MlflowOutbox.Operation


Applier = Callable[[Any, MlflowOutbox], None]
_appliers: dict[str, Applier] = {}


def register_applier(operation: str, applier: Applier) -> None:
    """`applier(client, row)` applies one row idempotently; it raises to keep the row for later."""
    _appliers[operation] = applier


@dataclass
class FlushResult:
    applied: int = 0
    pending: int = 0
    error: str = ""


def _apply(client, row: MlflowOutbox) -> None:
    if row.operation in _appliers:
        _appliers[row.operation](client, row)
        return
    name, payload = row.registered_model, row.payload
    try:
        if row.operation == Op.CREATE_MODEL:
            client.create_registered_model(name, tags=payload.get("tags") or None,
                                           description=payload.get("description"))
        elif row.operation == Op.DELETE_MODEL:
            client.delete_registered_model(name)
        elif row.operation == Op.SET_MODEL_TAGS:
            for key, value in payload["tags"].items():
                client.set_registered_model_tag(name, key, str(value))
        elif row.operation == Op.DELETE_MODEL_TAGS:
            for key in payload["keys"]:
                client.delete_registered_model_tag(name, key)
        elif row.operation == Op.SET_VERSION_TAGS:
            for key, value in payload["tags"].items():
                client.set_model_version_tag(name, payload["version"], key, str(value))
        else:
            raise ValueError(f"unknown mirror operation {row.operation!r}")
    except Exception as error:
        code = mlflow_gateway.error_code(error)
        if row.operation == Op.CREATE_MODEL and code == mlflow_gateway.ALREADY_EXISTS:
            # Registering a trained version may have created it first (without our tags).
            for key, value in (payload.get("tags") or {}).items():
                client.set_registered_model_tag(name, key, str(value))
            return
        if row.operation != Op.CREATE_MODEL and code == mlflow_gateway.DOES_NOT_EXIST:
            return  # deleting what is gone, or tagging a model deleted since: nothing left to do
        raise


def flush(limit: int = 500) -> FlushResult:
    """Apply pending rows in id order until one fails; returns what was done and what is left.

    One flusher at a time (MLflow's tag writes are not safe to race); a flush that finds
    another one running leaves the rows to it.
    """
    with only_one("mlflow-mirror") as held:
        if not held:
            return FlushResult(pending=MlflowOutbox.objects.count(), error="another flush is running")
        return _flush(limit)


def _flush(limit: int) -> FlushResult:
    result = FlushResult()
    rows = list(MlflowOutbox.objects.order_by("id")[:limit])
    if rows:
        client = mlflow_gateway.client()
        for row in rows:
            try:
                _apply(client, row)
            except Exception as error:  # MLflow down or refusing: keep the row, try again later
                result.error = f"{type(error).__name__}: {str(error)[:500]}"
                MlflowOutbox.objects.filter(id=row.id).update(
                    attempts=row.attempts + 1, last_error=result.error, last_attempt_at=timezone.now()
                )
                log.warning("MLflow mirror paused at %s: %s", row, result.error)
                break
            MlflowOutbox.objects.filter(id=row.id).delete()
            result.applied += 1
    result.pending = MlflowOutbox.objects.count()
    return result
