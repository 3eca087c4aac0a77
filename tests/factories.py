"""Trained versions for tests: bundles whose behaviour is known exactly, and real fits without MLflow.

A residual-target network with zero weights and an identity target scaler predicts "no
change", i.e. exactly persistence; `offset` shifts every forecast by a constant. They run
through the same bundle, cache, scoring and inference code as trained networks.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import torch
from django.conf import settings

from registry import services as registry_services
from registry.models import ModelConfig, ModelVersion
from training import conformal
from training.architectures import build_network
from training.bundle import Bundle, save_bundle
from training.conformal import ResidualQuantiles
from training.fitting import FitConfig, fit_model
from training.pipeline import fetch_samples
from training.sequences import Scaler


def known_intervals(forecast: int, outputs: int, scale: float) -> ResidualQuantiles:
    """Residual quantiles with quantile(p) = scale·p (residuals uniform on [0, scale]) from so
    many samples that the finite-sample correction vanishes: the half width at coverage c is
    scale·c, whatever the volatility."""
    quantiles = np.broadcast_to(scale * conformal.LEVELS, (forecast, outputs, conformal.VOLATILITY_GROUPS + 2,
                                                          len(conformal.LEVELS))).astype(np.float32)
    counts = np.full((outputs, conformal.VOLATILITY_GROUPS + 2), 10**9)
    return ResidualQuantiles(quantiles.copy(), counts, np.full((outputs, conformal.VOLATILITY_GROUPS + 1), np.inf))


def known_bundle(model: ModelConfig, *, offset: float = 0.0, interval_scale: float | None = None) -> Bundle:
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
        intervals=None if interval_scale is None else {
            name: known_intervals(model.forecast_steps, n_out, interval_scale) for name in ("model", "persistence")},
    )


def known_version(model: ModelConfig, *, offset: float = 0.0, trained_until=None,
                  interval_scale: float | None = None) -> ModelVersion:
    """`interval_scale`: its intervals (and persistence's) are forecast ± scale·coverage; None: none."""
    key = save_bundle(known_bundle(model, offset=offset, interval_scale=interval_scale),
                      f"models/{model.id}/known-{offset}-{interval_scale}.pt")
    return registry_services.model_version_create(model_id=model.id, bundle_path=key, trained_until=trained_until)


def trained_version(model: ModelConfig) -> ModelVersion:
    """Train the model for real on all its data (the pipeline's data path and fitting steps), without MLflow."""
    data = fetch_samples(model, lookback_seconds=settings.TRAINING_MAX_LOOKBACK_SECONDS)
    key = save_bundle(fit_model(FitConfig.of(model), data.samples).bundle, f"models/{model.id}/trained.pt")
    return registry_services.model_version_create(
        model_id=model.id, bundle_path=key, trained_until=datetime.fromisoformat(data.summary["data_until"]))


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
