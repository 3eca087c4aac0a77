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
