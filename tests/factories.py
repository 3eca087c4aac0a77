"""Trained versions without training: bundles whose behaviour is known exactly.

A residual-target network with zero weights and an identity target scaler predicts "no
change", i.e. exactly persistence; `offset` shifts every forecast by a constant. They run
through the same bundle, cache, scoring and inference code as trained networks.
"""

from __future__ import annotations

import numpy as np
import torch

from registry import services as registry_services
from registry.models import ModelConfig, ModelVersion
from training.bundle import Bundle, save_bundle
from training.networks import build_network
from training.sequences import Scaler


def known_bundle(model: ModelConfig, *, offset: float = 0.0) -> Bundle:
    network = build_network(model.architecture, lookback=model.lookback_steps, n_inputs=len(model.input_fields),
                            forecast=model.forecast_steps, n_outputs=len(model.output_fields), hidden=model.hidden_size)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
    n_in, n_out = len(model.input_fields), len(model.output_fields)
    return Bundle(
        architecture=model.architecture, input_fields=model.input_fields, output_fields=model.output_fields,
        window_seconds=model.window_duration_seconds, lookback=model.lookback_steps, forecast=model.forecast_steps,
        hidden=model.hidden_size, target_mode="residual",
        feature_scaler=Scaler(np.zeros(n_in, np.float32), np.ones(n_in, np.float32)),
        target_scaler=Scaler(np.full(n_out, offset, np.float32), np.ones(n_out, np.float32)),
        state_dict=network.state_dict(),
    )


def known_version(model: ModelConfig, *, offset: float = 0.0, trained_until=None) -> ModelVersion:
    key = save_bundle(known_bundle(model, offset=offset), f"models/{model.id}/known-{offset}.pt")
    return registry_services.model_version_create(model_id=model.id, bundle_path=key, trained_until=trained_until)


def ridge_version(model: ModelConfig) -> ModelVersion:
    """Train a `linear` model for real (closed-form ridge, the pipeline's data path) without MLflow."""
    from training.pipeline import fetch_samples
    from training.sequences import targets, time_split
    from training.trainer import fit_ridge

    data = fetch_samples(model, lookback_seconds=model_lookback_all())
    train, val = time_split(data.samples, model.validation_fraction)
    feature_scaler, target_scaler = Scaler.fit(train.x), Scaler.fit(targets(train, model.target_mode))
    network = build_network("linear", lookback=model.lookback_steps, n_inputs=len(model.input_fields),
                            forecast=model.forecast_steps, n_outputs=len(model.output_fields), hidden=1)
    result = fit_ridge(network, feature_scaler.transform(train.x),
                       target_scaler.transform(targets(train, model.target_mode)),
                       feature_scaler.transform(val.x), target_scaler.transform(targets(val, model.target_mode)))
    bundle = Bundle(architecture="linear", input_fields=model.input_fields, output_fields=model.output_fields,
                    window_seconds=model.window_duration_seconds, lookback=model.lookback_steps,
                    forecast=model.forecast_steps, hidden=model.hidden_size, target_mode=model.target_mode,
                    feature_scaler=feature_scaler, target_scaler=target_scaler, state_dict=result.state_dict)
    key = save_bundle(bundle, f"models/{model.id}/ridge.pt")
    from datetime import datetime

    return registry_services.model_version_create(
        model_id=model.id, bundle_path=key, trained_until=datetime.fromisoformat(data.summary["data_until"]))


def model_lookback_all() -> int:
    from django.conf import settings

    return settings.TRAINING_MAX_LOOKBACK_SECONDS


def write_series(folder, cell: int, values, *, step: int = 10, start: int = 1_700_000_000) -> None:
    """A compact measurement file with one record every `step` seconds for the KPI `sinr`
    (other KPIs copy it), so each window of `step` seconds holds exactly that value."""
    from pathlib import Path

    from telemetry.gnettrack import KPIS, write_compact

    rows = []
    for i, value in enumerate(values):
        kpis = {k: f"{value:.6f}" for k in KPIS}
        rows.append((str(start + i * step), str(cell), "5G", *(kpis[k] for k in KPIS)))
    write_compact(rows, Path(folder) / f"synthetic-{cell}.csv.gz")
