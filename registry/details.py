"""Extra per-model details for `GET /v1/models?include_details=true`, contributed by the apps
above the registry (training status, scores, best-for fields) without the registry importing
them: each app registers a provider in its AppConfig.ready().

A provider takes the page of models and returns {model_id: {key: value}} with a constant
number of queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from registry.models import ModelConfig

Provider = Callable[[Sequence[ModelConfig]], dict[uuid.UUID, dict[str, Any]]]
_providers: list[Provider] = []


def register(provider: Provider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def collect(models: Sequence[ModelConfig]) -> dict[uuid.UUID, dict[str, Any]]:
    merged: dict[uuid.UUID, dict[str, Any]] = {m.id: {} for m in models}
    for provider in _providers:
        for model_id, details in provider(models).items():
            merged.setdefault(model_id, {}).update(details)
    return merged
